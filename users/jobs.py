"""Background jobs: an export written to a file by a worker, with progress you can watch.

A job records its progress and a heartbeat as it goes. A job whose worker stopped (no
heartbeat for STALE_AFTER) is marked failed with that reason when anyone looks at it, so it
never hangs as "running"; an export is safe to start again. Files expire after FILE_LIFETIME.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django_tasks import task

from users.exports import export_users
from users.models import Job, Tenant
from users.search import users_matching

STALE_AFTER = timedelta(minutes=2)
FILE_LIFETIME = timedelta(hours=24)
HEARTBEAT_EVERY = 5000  # rows


def job_path(job: Job) -> Path:
    return Path(settings.JOB_FILES_DIR) / job.file_name


def export_job_start(
    *, tenant: Tenant, staff_pk: int | None, q: str, columns: str | None, fmt: str, gzip: bool
) -> Job:
    """Check the export as a direct download would (refusing bad input now), then queue it."""
    export_users(tenant, q=q, columns=columns, fmt=fmt, gzip=gzip)
    job = Job.objects.create(
        tenant=tenant,
        kind="export",
        created_by_id=staff_pk,
        params={"q": q, "columns": columns, "fmt": fmt, "gzip": gzip},
    )
    run_export.enqueue(job.pk)
    return job


def refresh(job: Job) -> Job:
    """The job as it stands, failing it if its worker has stopped."""
    job.refresh_from_db()
    stale = job.heartbeat_at is not None and timezone.now() - job.heartbeat_at > STALE_AFTER
    if job.status == Job.Status.RUNNING and stale:
        Job.objects.filter(pk=job.pk, status=Job.Status.RUNNING).update(
            status=Job.Status.FAILED,
            error="The worker stopped while this export ran; start it again.",
            finished_at=timezone.now(),
        )
        job.refresh_from_db()
    return job


def expired(job: Job) -> bool:
    return job.finished_at is not None and timezone.now() - job.finished_at > FILE_LIFETIME


def prune_expired_files() -> int:
    """Delete the files of jobs that finished more than FILE_LIFETIME ago; returns how many."""
    cutoff = timezone.now() - FILE_LIFETIME
    removed = 0
    for job in Job.objects.filter(finished_at__lt=cutoff).exclude(file_name=""):
        path = job_path(job)
        if path.is_file():
            path.unlink()
            removed += 1
        Job.objects.filter(pk=job.pk).update(file_name="")
    return removed


@task()
def run_export(job_id: int) -> None:
    prune_expired_files()
    job = Job.objects.select_related("tenant").get(pk=job_id)
    params: dict[str, Any] = job.params
    extension = params["fmt"] + (".gz" if params["gzip"] else "")
    job.file_name = f"export-{job.pk}-{job.tenant.slug}.{extension}"
    job.status = Job.Status.RUNNING
    job.total = users_matching(job.tenant, params["q"]).count()
    job.done = 0
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["file_name", "status", "total", "done", "heartbeat_at"])
    path = job_path(job)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
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
    except Exception as error:  # recorded on the job, which is what people see; then re-raised
        Job.objects.filter(pk=job.pk).update(
            status=Job.Status.FAILED, error=str(error), finished_at=timezone.now()
        )
        path.unlink(missing_ok=True)
        raise
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.SUCCEEDED, done=job.total, finished_at=timezone.now()
    )
