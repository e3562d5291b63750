"""The task entry points a worker (`manage.py jobs_worker`) runs: thin schedulers that read
the job's typed params, call the export writer or a batch (`users.batches`) with a
checkpoint, and record the outcome on the job.

Each task takes the job's id and the attempt it was queued for, and runs only a job still
queued at that attempt (`lifecycle.claim`): one failed meanwhile (say, as never picked up)
or queued again is left alone."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django_tasks import task

from users import batches, imports
from users.batches import BatchReport, ImportReport
from users.exports import export_users
from users.jobs.lifecycle import (
    HEARTBEAT_EVERY,
    ErrorsFile,
    begin,
    checkpointer,
    claim,
    finish,
    job_context,
    job_path,
    prune_expired_files,
    run_guarded,
    succeed,
)
from users.models import Job
from users.search import users_matching
from users.selectors import batch_events


def _job(job_id: int, attempt: int | None) -> Job | None:
    """The job, now running for this run; None if it is not this run's to do (`claim`)."""
    prune_expired_files()
    job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
    return job if claim(job, attempt) else None


@task()
def run_export(job_id: int, attempt: int | None = None) -> None:
    job = _job(job_id, attempt)
    if job is None:
        return
    params = job.typed_params
    extension = params.fmt + (".gz" if params.gzip else "")
    file_name = f"export-{job.pk}-{job.tenant.slug}.{extension}"
    begin(job, file_name=file_name, total=users_matching(job.tenant, params.q).count(), done=0)
    path = job_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)

    def body() -> None:
        chunks = export_users(
            job.tenant, q=params.q, columns=params.columns, fmt=params.fmt, gzip=params.gzip
        )
        lines = 0
        with path.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
                lines += chunk.count(b"\n")
                if lines - job.done >= HEARTBEAT_EVERY:
                    job.done = lines
                    Job.objects.filter(pk=job.pk).update(done=lines, heartbeat_at=timezone.now())

    try:
        run_guarded(job, body)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    succeed(job, done=job.total)


@task()
def run_import(job_id: int, attempt: int | None = None) -> None:
    job = _job(job_id, attempt)
    if job is None:
        return
    params = job.typed_params
    begin(job)
    errors = ErrorsFile(job)

    def body() -> None:
        source = job_path(job, params.source)
        if not params.source or not source.is_file():
            raise imports.ImportFileError("The uploaded file is gone (expired); upload it again.")
        data = source.read_bytes()  # its size was checked when it was uploaded
        rows = imports.read_rows(data, params.fmt, max_bytes=len(data))  # type: ignore[arg-type]
        saved = job.result.get("report")
        report = batches.import_users(
            job.tenant,
            rows,
            upsert=params.upsert,
            metadata_mode=params.metadata_mode,  # type: ignore[arg-type]
            dry_run=params.dry_run,
            by=job_context(job),
            resume=ImportReport.from_dict(saved) if saved else None,
            start_row=job.result.get("position", 0),
            checkpoint=checkpointer(job, errors, lambda r: r.inserted + r.updated + r.failed),
            connection=params.connection or None,
        )
        finish(job, report, done=report.total)

    run_guarded(job, body)


def _begin_batch(job: Job, count: QuerySet[Any]) -> BatchReport | None:
    """Start (or resume) a bulk edit or batch revert: the saved report, if any; the total is
    counted only on the first run."""
    saved = job.result.get("report")
    if saved is None:
        begin(job, total=count.count())
        return None
    begin(job)
    return BatchReport.from_dict(saved)


@task()
def run_bulk_edit(job_id: int, attempt: int | None = None) -> None:
    job = _job(job_id, attempt)
    if job is None:
        return
    params = job.typed_params
    users = users_matching(job.tenant, params.q)
    resume = _begin_batch(job, users)
    errors = ErrorsFile(job)

    def body() -> None:
        report = batches.users_bulk_edit(
            tenant=job.tenant,
            users=users,
            tier=params.tier,
            key=params.key,
            value=params.value,
            remove=params.remove,
            by=job_context(job),
            resume=resume,
            after_pk=job.result.get("position") or 0,
            checkpoint=checkpointer(job, errors, lambda r: r.matched),
        )
        finish(job, report, done=report.matched, total=report.matched)

    run_guarded(job, body)


@task()
def run_revert(job_id: int, attempt: int | None = None) -> None:
    job = _job(job_id, attempt)
    if job is None:
        return
    batch_id = uuid.UUID(job.typed_params.batch_id)
    resume = _begin_batch(job, batch_events(job.tenant, batch_id))
    errors = ErrorsFile(job)

    def body() -> None:
        report = batches.audit_revert_batch(
            tenant=job.tenant,
            batch_id=batch_id,
            by=job_context(job),
            resume=resume,
            before_seq=job.result.get("position"),
            checkpoint=checkpointer(job, errors, lambda r: r.matched),
        )
        finish(job, report, done=report.matched, total=report.matched)

    run_guarded(job, body)


# The kinds a stopped job of which can be resumed from its checkpoint, and the task that does it.
RESUME_TASKS = {
    Job.Kind.IMPORT: run_import,
    Job.Kind.BULK_EDIT: run_bulk_edit,
    Job.Kind.REVERT: run_revert,
}
# The task that runs each kind of job.
KIND_TASKS = {Job.Kind.EXPORT: run_export, **RESUME_TASKS}
