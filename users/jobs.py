"""Background jobs: exports, imports, bulk edits and batch reverts, with progress you can watch.

Each kind has a `*_job_start` that checks its input as the direct path would (so bad input is
refused at once and nothing is queued) and a task that a worker (`manage.py db_worker`) runs.

A job records progress and a heartbeat as it goes. Imports, bulk edits and reverts commit a
chunk at a time, and save their checkpoint (the report so far and where to go on from) in the
chunk's own transaction: after a crash the checkpoint says exactly what is done, and no row is
ever half-applied. A job whose worker stopped (no heartbeat for STALE_AFTER) is marked failed
with that reason when anyone looks at it; such a job can be resumed from its checkpoint with
the same batch id (an export simply starts again). Files expire after FILE_LIFETIME.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import task

from users import imports, services
from users.audit import Actor, Context
from users.exports import export_users
from users.models import AuditEvent, Channel, Job, Tenant
from users.search import users_matching

STALE_AFTER = timedelta(minutes=2)
FILE_LIFETIME = timedelta(hours=24)
HEARTBEAT_EVERY = 5000  # rows


class JobReplaced(Exception):
    """This run's job was failed as stale and resumed by another run; this one stops."""


def job_path(job: Job, name: str | None = None) -> Path:
    return Path(settings.JOB_FILES_DIR) / (name or job.file_name)


def _job_context(job: Job) -> Context:
    """Who the job writes as: the API client or staff member who started it."""
    if "actor" in job.params:
        kind, actor_id, label = job.params["actor"]
        return Context(actor=Actor(kind, actor_id, label), channel=Channel.API)
    staff = job.created_by
    actor = Actor.for_staff(staff) if staff is not None else Actor.system("job")
    return Context(actor=actor, channel=Channel.CONSOLE)


# --- starting -------------------------------------------------------------------------------


def export_job_start(
    *,
    tenant: Tenant,
    staff_pk: int | None,
    q: str,
    columns: str | None,
    fmt: str,
    gzip: bool,
    api_fields: Mapping[str, str] | None = None,
) -> Job:
    """Check the export as a direct download would (refusing bad input now), then queue it.
    `api_fields`: what an API client named the job with, shown back to it."""
    export_users(tenant, q=q, columns=columns, fmt=fmt, gzip=gzip)
    job = Job.objects.create(
        tenant=tenant,
        kind=Job.Kind.EXPORT,
        created_by_id=staff_pk,
        params={
            "q": q,
            "columns": columns,
            "fmt": fmt,
            "gzip": gzip,
            **({"api": dict(api_fields)} if api_fields else {}),
        },
    )
    run_export.enqueue(job.pk)
    return job


def import_job_start(
    *,
    tenant: Tenant,
    staff_pk: int | None,
    data: bytes,
    file_name: str,
    fmt: imports.ImportFormat,
    upsert: bool,
    metadata_mode: str,
    dry_run: bool,
    connection: str | None = None,
    actor: Actor | None = None,
    api_fields: Mapping[str, str] | None = None,
) -> Job:
    """Read the file now (ImportFileError refuses it whole, and nothing is queued), keep it
    beside the job, then queue the import. `connection` is the default of rows that name
    none; `actor` is who writes, when not the staff member `staff_pk` (an API client);
    `api_fields` what that client named the job with, shown back to it."""
    rows = imports.read_rows(data, fmt, max_bytes=settings.IMPORT_MAX_BYTES)
    job = Job.objects.create(
        tenant=tenant,
        kind=Job.Kind.IMPORT,
        created_by_id=staff_pk,
        total=len(rows),
        params={
            "fmt": fmt,
            "upsert": upsert,
            "metadata_mode": metadata_mode,
            "dry_run": dry_run,
            "file_name": file_name,
            **({"connection": connection} if connection else {}),
            **({"actor": [actor.kind, actor.id, actor.label]} if actor else {}),
            **({"api": dict(api_fields)} if api_fields else {}),
        },
    )
    source = f"import-{job.pk}-{tenant.slug}.{fmt}"
    path = job_path(job, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    job.params["source"] = source
    job.save(update_fields=["params"])
    run_import.enqueue(job.pk)
    return job


def import_job_repeat(job: Job, *, staff_pk: int | None) -> Job:
    """Run a dry run's file again for real, with the same options."""
    params = job.params
    source = job_path(job, params.get("source", ""))
    if not params.get("source") or not source.is_file():
        raise imports.ImportFileError("The uploaded file has expired; upload it again.")
    return import_job_start(
        tenant=job.tenant,
        staff_pk=staff_pk,
        data=source.read_bytes(),
        file_name=params["file_name"],
        fmt=params["fmt"],
        upsert=params["upsert"],
        metadata_mode=params["metadata_mode"],
        dry_run=False,
    )


def bulk_edit_job_start(
    *,
    tenant: Tenant,
    staff_pk: int | None,
    q: str,
    tier: str,
    key: str,
    value: Any,
    remove: bool,
) -> Job:
    """Check the query and the edit (SearchError, MetadataError, ServiceError), then queue."""
    users_matching(tenant, q)
    services.bulk_edit_patch(tenant, tier, key, value, remove)
    job = Job.objects.create(
        tenant=tenant,
        kind=Job.Kind.BULK_EDIT,
        created_by_id=staff_pk,
        params={"q": q, "tier": tier, "key": key, "value": value, "remove": remove},
    )
    run_bulk_edit.enqueue(job.pk)
    return job


def revert_job_start(*, tenant: Tenant, staff_pk: int | None, batch_id: uuid.UUID) -> Job:
    job = Job.objects.create(
        tenant=tenant,
        kind=Job.Kind.REVERT,
        created_by_id=staff_pk,
        params={"batch_id": str(batch_id)},
    )
    run_revert.enqueue(job.pk)
    return job


# --- watching and resuming ------------------------------------------------------------------


def fail_stale(tenant: Tenant) -> None:
    """Fail (with the reason) the tenant's running jobs whose worker has stopped."""
    cutoff = timezone.now() - STALE_AFTER
    for job in Job.objects.filter(
        tenant=tenant, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff
    ):
        refresh(job)


def refresh(job: Job) -> Job:
    """The job as it stands, failing it (with the reason) if its worker has stopped."""
    job.refresh_from_db()
    stale = job.heartbeat_at is not None and timezone.now() - job.heartbeat_at > STALE_AFTER
    if job.status == Job.Status.RUNNING and stale:
        if resumable(job, assume_failed=True):
            reason = (
                f"The worker stopped after {job.done:,} of {job.total or 0:,}. Everything up to "
                "there is done, nothing is half-applied; resume to go on from there."
            )
        else:
            kind = job.get_kind_display().lower()
            reason = f"The worker stopped while this {kind} ran; start it again."
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED, error=reason, finished_at=timezone.now()
        )
        job.refresh_from_db()
    return job


def resumable(job: Job, *, assume_failed: bool = False) -> bool:
    """A failed import, bulk edit or revert goes on from its last checkpoint (or from the
    start, if it stopped before its first chunk committed)."""
    failed = assume_failed or job.status == Job.Status.FAILED
    return failed and job.kind in RESUME_TASKS and not expired(job)


def resume(job: Job) -> bool:
    """Queue a failed job again from its checkpoint; False if it cannot be (or already was)."""
    if not resumable(job):
        return False
    queued = Job.objects.filter(pk=job.pk, status=Job.Status.FAILED, attempt=job.attempt).update(
        status=Job.Status.QUEUED, attempt=job.attempt + 1, error="", finished_at=None
    )
    if not queued:
        return False
    RESUME_TASKS[Job.Kind(job.kind)].enqueue(job.pk)
    return True


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


# --- running --------------------------------------------------------------------------------


def _begin(job: Job, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(job, name, value)
    job.status = Job.Status.RUNNING
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["status", "heartbeat_at", *fields])


def _fail(job: Job, error: Exception) -> None:
    Job.objects.filter(pk=job.pk, attempt=job.attempt).update(
        status=Job.Status.FAILED, error=str(error), finished_at=timezone.now()
    )


def _succeed(job: Job, **fields: Any) -> None:
    Job.objects.filter(pk=job.pk, attempt=job.attempt).update(
        status=Job.Status.SUCCEEDED, finished_at=timezone.now(), **fields
    )


class _Errors:
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
        with self.path.open("ab") as out:
            out.truncate(self.size)

    def write(self, failures: list[dict[str, Any]]) -> int:
        if failures:
            lines = "".join(json.dumps(f, ensure_ascii=False) + "\n" for f in failures)
            with self.path.open("ab") as out:
                out.write(lines.encode("utf-8"))
                out.flush()
                os.fsync(out.fileno())
            self.size += len(lines.encode("utf-8"))
        return self.size


def _checkpointer(
    job: Job, errors: _Errors, done: Callable[[Any], int]
) -> Callable[[Any, int, list[dict[str, Any]]], None]:
    """A checkpoint for `imports.import_users` and the batch services: runs inside the
    chunk's transaction, so the chunk and its record commit (or vanish) together."""

    def checkpoint(report: Any, position: int, failures: list[dict[str, Any]]) -> None:
        with transaction.atomic():  # a dry run checkpoints after its chunk rolled back
            current = Job.objects.select_for_update().get(pk=job.pk)
            if current.attempt != job.attempt or current.status != Job.Status.RUNNING:
                raise JobReplaced(f"Job {job.pk} was resumed elsewhere; this run stops.")
            result = {
                "report": report.to_dict(),
                "position": position,
                "errors_bytes": errors.write(failures),
            }
            Job.objects.filter(pk=job.pk).update(
                result=result, done=done(report), heartbeat_at=timezone.now()
            )

    return checkpoint


def _run_guarded(job: Job, body: Callable[[], None]) -> None:
    try:
        body()
    except JobReplaced:
        return
    except Exception as error:  # recorded on the job, which is what people see; then re-raised
        _fail(job, error)
        raise


@task()
def run_export(job_id: int) -> None:
    prune_expired_files()
    job = Job.objects.select_related("tenant").get(pk=job_id)
    params: dict[str, Any] = job.params
    extension = params["fmt"] + (".gz" if params["gzip"] else "")
    file_name = f"export-{job.pk}-{job.tenant.slug}.{extension}"
    _begin(job, file_name=file_name, total=users_matching(job.tenant, params["q"]).count(), done=0)
    path = job_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)

    def body() -> None:
        chunks = export_users(
            job.tenant,
            q=params["q"],
            columns=params["columns"],
            fmt=params["fmt"],
            gzip=params["gzip"],
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
        _run_guarded(job, body)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    _succeed(job, done=job.total)


@task()
def run_import(job_id: int) -> None:
    prune_expired_files()
    job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
    params: dict[str, Any] = job.params
    _begin(job)
    errors = _Errors(job)

    def body() -> None:
        source = job_path(job, params.get("source", ""))
        if not params.get("source") or not source.is_file():
            raise imports.ImportFileError("The uploaded file is gone (expired); upload it again.")
        data = source.read_bytes()  # its size was checked when it was uploaded
        rows = imports.read_rows(data, params["fmt"], max_bytes=len(data))
        if params.get("connection"):
            rows = [
                {"connection": params["connection"], **row} if isinstance(row, dict) else row
                for row in rows
            ]
        saved = job.result.get("report")
        report = imports.import_users(
            job.tenant,
            rows,
            upsert=params["upsert"],
            metadata_mode=params["metadata_mode"],
            dry_run=params["dry_run"],
            by=_job_context(job),
            resume=imports.ImportReport.from_dict(saved) if saved else None,
            start_row=job.result.get("position", 0),
            checkpoint=_checkpointer(job, errors, lambda r: r.inserted + r.updated + r.failed),
        )
        _finish(job, report, done=report.total)

    _run_guarded(job, body)


def _run_batch(
    job: Job,
    count: Callable[[], int],
    work: Callable[[services.BatchReport | None, Any, Callable[..., None]], services.BatchReport],
) -> None:
    """Run a resumable batch job (bulk edit, batch revert): `work(resume, position,
    checkpoint)` goes on from the saved checkpoint, if any; `count` gives the total first."""
    saved = job.result.get("report")
    if saved is None:
        _begin(job, total=count())
    else:
        _begin(job)
    errors = _Errors(job)

    def body() -> None:
        report = work(
            services.BatchReport.from_dict(saved) if saved else None,
            job.result.get("position"),
            _checkpointer(job, errors, lambda r: r.matched),
        )
        _finish(job, report, done=report.matched, total=report.matched)

    _run_guarded(job, body)


@task()
def run_bulk_edit(job_id: int) -> None:
    prune_expired_files()
    job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
    params: dict[str, Any] = job.params
    users = users_matching(job.tenant, params["q"])
    _run_batch(
        job,
        users.count,
        lambda resume, position, checkpoint: services.users_bulk_edit(
            tenant=job.tenant,
            users=users,
            tier=params["tier"],
            key=params["key"],
            value=params["value"],
            remove=params["remove"],
            by=_job_context(job),
            resume=resume,
            after_pk=position or 0,
            checkpoint=checkpoint,
        ),
    )


@task()
def run_revert(job_id: int) -> None:
    prune_expired_files()
    job = Job.objects.select_related("tenant", "created_by").get(pk=job_id)
    batch_id = uuid.UUID(job.params["batch_id"])
    _run_batch(
        job,
        AuditEvent.objects.filter(tenant=job.tenant, batch_id=batch_id).count,
        lambda resume, position, checkpoint: services.audit_revert_batch(
            tenant=job.tenant,
            batch_id=batch_id,
            by=_job_context(job),
            resume=resume,
            before_seq=position,
            checkpoint=checkpoint,
        ),
    )


def _finish(job: Job, report: imports.ImportReport | services.BatchReport, **counts: int) -> None:
    """Succeed with the final report; the errors file is kept only if something failed."""
    if not report.failed:
        job_path(job).unlink(missing_ok=True)
        job.file_name = ""
    result = {**Job.objects.get(pk=job.pk).result, "report": report.to_dict()}
    _succeed(job, file_name=job.file_name, result=result, **counts)


# The kinds a stopped job of which can be resumed from its checkpoint, and the task that does it.
RESUME_TASKS = {
    Job.Kind.IMPORT: run_import,
    Job.Kind.BULK_EDIT: run_bulk_edit,
    Job.Kind.REVERT: run_revert,
}
