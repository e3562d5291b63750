"""What the task queue says about a queued job, so that no job stays queued forever.

A job is queued with one task (django-tasks-db's task row, whose arguments are the job's id
and attempt). While the job is queued, its task row says what became of it:

- the task failed (or ended) before the job began, e.g. the database was locked when it
  started: the job fails with the task's own error;
- a worker took the task more than STALE_AFTER ago and the job never began: that worker
  stopped, and the job fails saying so;
- no worker has taken the task in UNCLAIMED_AFTER, and no worker is alive (none is running
  a job, or has taken a task, within STALE_AFTER; an idle worker takes a task within
  seconds): the job fails, asking whether a worker runs at all, and its task is failed too,
  so that a worker started later does not run a job reported as failed;
- there is no task row (it was never written, or was deleted) UNCLAIMED_AFTER after the job
  was queued: the job fails saying so.

Only the database backend keeps task rows; with any other (tests' immediate and dummy
backends) nothing is known, and nothing is decided.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django_tasks import DEFAULT_TASK_BACKEND_ALIAS, TaskResultStatus, task_backends
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from users.jobs.lifecycle import STALE_AFTER
from users.jobs.tasks import KIND_TASKS, RESUME_TASKS
from users.models import Job

UNCLAIMED_AFTER = timedelta(minutes=5)
TaskRow = DBTaskResult[..., Any]


class NeverPickedUp(Exception):
    """Recorded on a task that no worker took before its job was failed for it."""


def _knows_tasks() -> bool:
    return isinstance(task_backends[DEFAULT_TASK_BACKEND_ALIAS], DatabaseBackend)


def _task_path(job: Job) -> str:
    return KIND_TASKS[Job.Kind(job.kind)].module_path


def tasks_of(jobs: Sequence[Job]) -> dict[int, TaskRow]:
    """By job id, the task row queued for each job's current attempt (the latest, if several
    were), read in one query: the jobs list checks every queued job each time it is polled."""
    if not jobs:
        return {}
    wanted = {(_task_path(job), job.pk, job.attempt): job.pk for job in jobs}
    rows = DBTaskResult.objects.filter(
        task_path__in={path for path, _, _ in wanted},
        enqueued_at__gte=min(job.created_at for job in jobs),
    ).order_by("enqueued_at")
    found: dict[int, TaskRow] = {}
    for row in rows:
        args = row.args_kwargs.get("args") or []
        key = (row.task_path, *args) if len(args) == 2 else None
        if key in wanted:
            found[wanted[key]] = row  # later rows win: the latest
    return found


def _worker_alive(now: datetime) -> bool:
    """Some worker showed a sign of life within STALE_AFTER: it is running a job, or took a
    task. (An idle worker takes a queued task within seconds.)"""
    recent = now - STALE_AFTER
    return (
        Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__gte=recent).exists()
        or DBTaskResult.objects.filter(
            status=TaskResultStatus.RUNNING, started_at__gte=recent
        ).exists()
    )


def _task_error(task: TaskRow) -> str:
    """The task's error, `Class: message` (the message's first line), from its traceback."""
    path = task.exception_class_path
    name = path.rpartition(".")[2]
    for line in reversed(task.traceback.splitlines()):
        for prefix in (f"{path}:", f"{name}:"):
            if line.startswith(prefix):
                return f"{name}: {line.removeprefix(prefix).strip()}"
    return name


def _again(job: Job) -> str:
    return "Resume to run it." if Job.Kind(job.kind) in RESUME_TASKS else "Start it again."


def reason_to_fail(job: Job, task: TaskRow | None, now: datetime) -> str:
    """Why a queued job will never run ("" while it still may), given its task row."""
    minutes = int(UNCLAIMED_AFTER.total_seconds() // 60)
    if task is None:
        queued_at = job.heartbeat_at or job.created_at  # a resume notes when it queued
        if now - queued_at > UNCLAIMED_AFTER:
            return (
                f"This job's task is not in the queue ({minutes} minutes after it was "
                f"queued): it was never written, or was deleted. {_again(job)}"
            )
        return ""
    status = TaskResultStatus(task.status)
    if status == TaskResultStatus.FAILED:
        return f"The job failed before it began: {_task_error(task)}. {_again(job)}"
    if status == TaskResultStatus.SUCCESSFUL:
        return f"The job's task ended without running it. {_again(job)}"
    if status == TaskResultStatus.RUNNING:
        if task.started_at is not None and now - task.started_at > STALE_AFTER:
            return f"The worker stopped before this job began. {_again(job)}"
        return ""
    if now - task.enqueued_at > UNCLAIMED_AFTER and not _worker_alive(now):
        return (
            f"No worker has picked this job up in {minutes} minutes: is "
            "`manage.py jobs_worker` running?"
        )
    return ""


def fail_stuck(jobs: Sequence[Job]) -> set[int]:
    """Fail the queued jobs that will never run, each with its reason (see the module
    docstring); the ids of those failed. Their task rows are read in one query."""
    queued = [job for job in jobs if job.status == Job.Status.QUEUED]
    if not queued or not _knows_tasks():
        return set()
    tasks = tasks_of(queued)
    now = timezone.now()
    return {job.pk for job in queued if _fail_if_stuck(job, tasks.get(job.pk), now)}


def _fail_if_stuck(job: Job, task: TaskRow | None, now: datetime) -> bool:
    """Fail one queued job that will never run; a task no worker took is failed with it, in
    one transaction, and only if no worker takes it meanwhile."""
    reason = reason_to_fail(job, task, now)
    if not reason:
        return False
    with transaction.atomic():
        if task is not None and task.status == TaskResultStatus.READY:
            taken = not DBTaskResult.objects.filter(
                pk=task.pk, status=TaskResultStatus.READY
            ).update(
                status=TaskResultStatus.FAILED,
                finished_at=now,
                exception_class_path=f"{__name__}.{NeverPickedUp.__qualname__}",
                traceback=f"{__name__}.{NeverPickedUp.__qualname__}: {reason}\n",
            )
            if taken:  # a worker took it just now: it runs after all
                return False
        return bool(
            Job.objects.filter(pk=job.pk, status=Job.Status.QUEUED, attempt=job.attempt).update(
                status=Job.Status.FAILED, error=reason, finished_at=now
            )
        )
