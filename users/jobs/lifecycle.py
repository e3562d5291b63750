"""A job's life as a worker runs it: its files, who it writes as, its state transitions, the
errors file and the checkpoint a batch saves after each chunk.

Imports, bulk edits and reverts save their checkpoint (the report so far and where to go on
from) in the chunk's own transaction: after a crash the checkpoint says exactly what is
done, and no row is ever half-applied. Files expire after FILE_LIFETIME.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from users.audit import Actor, Context
from users.batches import Report
from users.batches.runner import Checkpoint, Failure
from users.models import Channel, Job
from users.search.budget import time_budget

STALE_AFTER = timedelta(minutes=2)
FILE_LIFETIME = timedelta(hours=24)
HEARTBEAT_EVERY = 5000  # rows
# A job's refused-rows file (console download, the API's GET /jobs/{id}/errors) keeps the
# first rows that fit in this many bytes; every refused row is still counted in the report.
ERRORS_FILE_MAX_BYTES = 2 * 1024 * 1024

R = TypeVar("R", bound=Report)
P = TypeVar("P")


class JobReplaced(Exception):
    """This run's job was failed as stale and resumed by another run; this one stops."""


def job_path(job: Job, name: str | None = None) -> Path:
    return Path(settings.JOB_FILES_DIR) / (name or job.file_name)


def job_context(job: Job) -> Context:
    """Who the job writes as: the API client or staff member who started it."""
    actor = job.typed_params.actor
    if actor is not None:
        return Context(actor=Actor(actor.kind, actor.id, actor.label), channel=Channel.API)
    staff = job.created_by
    return Context(
        actor=Actor.for_staff(staff) if staff is not None else Actor.system("job"),
        channel=Channel.CONSOLE,
    )


def expired(job: Job) -> bool:
    return job.finished_at is not None and timezone.now() - job.finished_at > FILE_LIFETIME


def prune_expired_files() -> int:
    """Delete the files of jobs that finished more than FILE_LIFETIME ago; returns how many."""
    cutoff = timezone.now() - FILE_LIFETIME
    removed = 0
    with_files = ~Q(file_name="") | Q(params__has_key="source")
    for job in Job.objects.filter(with_files, finished_at__lt=cutoff):
        for name in (job.file_name, job.params.get("source", "")):
            if name and job_path(job, name).is_file():
                job_path(job, name).unlink()
                removed += 1
        params = {key: value for key, value in job.params.items() if key != "source"}
        Job.objects.filter(pk=job.pk).update(file_name="", params=params)
    return removed


def claim(job: Job, attempt: int | None = None) -> bool:
    """Mark a queued job running, for the run queued for `attempt` (None: the job's current
    one). False, changing nothing, when it is no longer queued at that attempt: it failed
    meanwhile (say, as never picked up by a worker), or was queued again as a later one."""
    wanted = job.attempt if attempt is None else attempt
    now = timezone.now()
    claimed = Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, attempt=wanted).update(
        status=Job.Status.RUNNING, heartbeat_at=now
    )
    if claimed:
        job.status, job.heartbeat_at = Job.Status.RUNNING, now
    return bool(claimed)


def begin(job: Job, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.status = Job.Status.RUNNING
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "heartbeat_at", *fields])


def _fail(job: Job, error: Exception) -> None:
    Job.objects.filter(pk=job.pk, attempt=job.attempt).update(
        status=Job.Status.FAILED, error=str(error), finished_at=timezone.now()
    )


def succeed(job: Job, **fields: Any) -> None:
    Job.objects.filter(pk=job.pk, attempt=job.attempt).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), **fields
    )


def finish(job: Job, report: Report, **counts: int) -> None:
    """Succeed with the final report; the errors file is kept only if something failed."""
    if not report.failed:
        job_path(job).unlink(missing_ok=True)
        job.file_name = ""
    result = {**Job.objects.get(pk=job.pk).result, "report": report.to_dict()}
    succeed(job, file_name=job.file_name, result=result, **counts)


def run_guarded(job: Job, body: Callable[[], None]) -> None:
    """Run the job's work; a replaced run stops quietly, any error fails the job (with the
    error, which is what people see) and is raised again for the worker's log."""
    try:
        # A job's own, larger budget: each statement may take JOB_QUERY_TIMEOUT_MS.
        with time_budget(settings.JOB_QUERY_TIMEOUT_MS, per_statement=True):
            body()
    except JobReplaced:
        return
    except Exception as error:
        _fail(job, error)
        raise


class ErrorsFile:
    """The failed rows of a job, as NDJSON in its download file. Each chunk's lines are
    written and flushed before its checkpoint commits; a resumed job cuts the file back to
    the length its last checkpoint recorded, so the file always matches the committed work."""

    def __init__(self, job: Job) -> None:
        self.job = job
        if not job.file_name:
            job.file_name = f"{job.kind}-{job.pk}-{job.tenant.slug}-errors.ndjson"
            job.save(update_fields=["file_name"])
        self.path = job_path(job)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.size = int(job.result.get("errors_bytes", 0))
        self.truncated = bool(job.result.get("errors_truncated", False))
        with self.path.open("ab") as out:
            out.truncate(self.size)

    def write(self, failures: list[Failure]) -> int:
        """Append the chunk's failures, as many as fit in ERRORS_FILE_MAX_BYTES (the rest are
        counted in the report, not kept); returns the file's length."""
        kept = bytearray()
        for failure in failures:
            line = (json.dumps(failure, ensure_ascii=False) + "\n").encode("utf-8")
            if self.size + len(kept) + len(line) > ERRORS_FILE_MAX_BYTES:
                self.truncated = True
                break
            kept += line
        if kept:
            with self.path.open("ab") as out:
                out.write(kept)
                out.flush()
                os.fsync(out.fileno())
            self.size += len(kept)
        return self.size


def checkpointer(job: Job, errors: ErrorsFile, done: Callable[[R], int]) -> Checkpoint[R, P]:
    """The checkpoint a batch calls after each chunk, inside the chunk's transaction: the
    report, the position and the errors file's length are saved with the chunk. A run whose
    job was resumed elsewhere meanwhile stops here (JobReplaced), and its chunk rolls back."""

    def checkpoint(report: R, position: P, failures: list[Failure]) -> None:
        with transaction.atomic():  # a dry run checkpoints after its chunk rolled back
            current = Job.objects.select_for_update().get(pk=job.pk)
            if current.attempt != job.attempt or current.status != Job.Status.RUNNING:
                raise JobReplaced(f"Job {job.pk} was resumed elsewhere; this run stops.")
            result = {
                "report": report.to_dict(),
                "position": position,
                "errors_bytes": errors.write(failures),
                "errors_truncated": errors.truncated,
            }
            Job.objects.filter(pk=job.pk).update(
                result=result, done=done(report), heartbeat_at=timezone.now()
            )

    return checkpoint
