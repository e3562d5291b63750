"""Starting, watching and resuming jobs.

Each kind has a `*_job_start` that checks its input as the direct path would (so bad input is
refused at once and nothing is queued), writes the job's typed params once, then queues its
task (with the job's attempt). A job whose worker stopped (no heartbeat for STALE_AFTER), or
that will never start (its task failed before it began, or no worker took it: see
`users.jobs.queue`), is marked failed with the reason when anyone looks at it; an import,
bulk edit or revert can then be resumed from its checkpoint with the same batch id (an
export simply starts again).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils import timezone

from users import batches, imports
from users.audit import Actor
from users.exports import export_users
from users.jobs.lifecycle import STALE_AFTER, expired, job_path
from users.jobs.queue import fail_stuck
from users.jobs.tasks import RESUME_TASKS, run_bulk_edit, run_export, run_import, run_revert
from users.models import Job, JobActor, JobParams, Tenant
from users.search import users_matching


def _create(tenant: Tenant, kind: Job.Kind, staff_pk: int | None, params: JobParams) -> Job:
    return Job.objects.create(
        tenant=tenant, kind=kind, created_by_id=staff_pk, params=params.to_json()
    )


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
    params = JobParams(q=q, columns=columns, fmt=fmt, gzip=gzip, api=dict(api_fields or {}))
    job = _create(tenant, Job.Kind.EXPORT, staff_pk, params)
    run_export.enqueue(job.pk, job.attempt)
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
    params = JobParams(
        fmt=fmt,
        upsert=upsert,
        metadata_mode=metadata_mode,
        dry_run=dry_run,
        file_name=file_name,
        connection=connection or "",
        actor=JobActor(actor.kind, actor.id, actor.label) if actor else None,
        api=dict(api_fields or {}),
    )
    job = Job.objects.create(
        tenant=tenant, kind=Job.Kind.IMPORT, created_by_id=staff_pk, total=len(rows)
    )
    source = f"import-{job.pk}-{tenant.slug}.{fmt}"
    path = job_path(job, source)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    job.params = dataclasses.replace(params, source=source).to_json()
    job.save(update_fields=["params"])
    run_import.enqueue(job.pk, job.attempt)
    return job


def import_job_repeat(job: Job, *, staff_pk: int | None) -> Job:
    """Run a dry run's file again for real, with the same options (connection and actor
    included)."""
    params = job.typed_params
    source = job_path(job, params.source)
    if not params.source or not source.is_file():
        raise imports.ImportFileError("The uploaded file has expired; upload it again.")
    actor = params.actor
    return import_job_start(
        tenant=job.tenant,
        staff_pk=staff_pk,
        data=source.read_bytes(),
        file_name=params.file_name,
        fmt=params.fmt,  # type: ignore[arg-type]
        upsert=params.upsert,
        metadata_mode=params.metadata_mode,
        dry_run=False,
        connection=params.connection or None,
        actor=Actor(actor.kind, actor.id, actor.label) if actor else None,
        api_fields=params.api,
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
    """Check the query and the edit (each refusal a `Refusal`), then queue."""
    users_matching(tenant, q)
    batches.bulk_edit_patch(tenant, tier, key, value, remove)
    params = JobParams(q=q, tier=tier, key=key, value=value, remove=remove)
    job = _create(tenant, Job.Kind.BULK_EDIT, staff_pk, params)
    run_bulk_edit.enqueue(job.pk, job.attempt)
    return job


def revert_job_start(*, tenant: Tenant, staff_pk: int | None, batch_id: uuid.UUID) -> Job:
    job = _create(tenant, Job.Kind.REVERT, staff_pk, JobParams(batch_id=str(batch_id)))
    run_revert.enqueue(job.pk, job.attempt)
    return job


def fail_stale(tenant: Tenant) -> None:
    """Fail (with the reason) the tenant's running jobs whose worker has stopped, and its
    queued jobs that will never start."""
    cutoff = timezone.now() - STALE_AFTER
    for job in Job.objects.filter(
        tenant=tenant, status=Job.Status.RUNNING, heartbeat_at__lt=cutoff
    ):
        refresh(job)
    fail_stuck(list(Job.objects.filter(tenant=tenant, status=Job.Status.QUEUED)))


def refresh(job: Job) -> Job:
    """The job as it stands, failing it (with the reason) if its worker has stopped, or if
    it is queued but will never start (`users.jobs.queue`)."""
    job.refresh_from_db()
    if job.status == Job.Status.QUEUED:
        if fail_stuck([job]):
            job.refresh_from_db()
        return job
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
    # heartbeat_at notes when it was queued again (`users.jobs.queue` counts from there).
    queued = Job.objects.filter(pk=job.pk, status=Job.Status.FAILED, attempt=job.attempt).update(
        status=Job.Status.QUEUED,
        attempt=job.attempt + 1,
        error="",
        finished_at=None,
        heartbeat_at=timezone.now(),
    )
    if not queued:
        return False
    RESUME_TASKS[Job.Kind(job.kind)].enqueue(job.pk, job.attempt + 1)
    return True
