"""Background work on a busy database: the worker (`manage.py jobs_worker`) outlives locks and
dropped connections and goes on with later jobs, and no job stays queued forever: one that
will never start is failed with the reason."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.management import call_command
from django.db import OperationalError, connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks.signals import task_started
from django_tasks_db.models import DBTaskResult

from tests.api.conftest import make_api
from tests.busy import Hold, held, short_lock_waits
from tests.factories import UserFactory
from tests.helpers import on_postgres
from users import jobs
from users.jobs.queue import UNCLAIMED_AFTER
from users.models import Job, Tenant

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
NO_WORKER = "No worker has picked this job up in 5 minutes: is `manage.py jobs_worker` running?"


@pytest.fixture
def queue(settings: Any, job_files: Path) -> Path:
    """Jobs are queued in the database, for a worker (django-tasks-db)."""
    settings.TASKS = DATABASE_TASKS
    return job_files


@pytest.fixture
def people(tenant: Tenant) -> None:
    for i in range(3):
        UserFactory.create(tenant=tenant, email=f"p{i}@x.test")


@pytest.fixture
def worker_signals() -> Iterator[None]:
    """The worker sets its own SIGINT/SIGTERM/SIGQUIT handlers; put pytest's back after."""
    names = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)
    saved = {name: signal.getsignal(name) for name in names}
    yield
    for name, handler in saved.items():
        signal.signal(name, handler)


def export(tenant: Tenant) -> Job:
    return jobs.export_job_start(
        tenant=tenant, staff_pk=None, q="", columns=None, fmt="csv", gzip=False
    )


def run_worker() -> None:
    """`manage.py jobs_worker` until the queue is empty."""
    call_command(
        "jobs_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval=0", verbosity=0
    )


@pytest.fixture
def at_task_start() -> Iterator[Callable[[int, Callable[[], None]], None]]:
    """`at_task_start(job_id, action)`: run `action` in the worker as the task of that job
    starts (django-tasks' `task_started` signal)."""
    actions: dict[int, Callable[[], None]] = {}

    def starting(sender: Any, task_result: Any, **kwargs: Any) -> None:
        action = actions.pop(task_result.args[0], None)
        if action is not None:
            action()

    task_started.connect(starting)
    yield actions.__setitem__
    task_started.disconnect(starting)


# --- the worker -----------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_worker_waits_out_a_locked_database_then_runs_every_job(
    tenant: Tenant,
    people: None,
    queue: Path,
    worker_signals: None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another connection holds the locks (longer than the worker waits) when the worker
    looks for work: db_worker died of this; jobs_worker waits, then runs both jobs."""
    first, second = export(tenant), export(tenant)
    with short_lock_waits(0.2), held(1.5):
        run_worker()
    assert "the database failed (OperationalError" in caplog.text  # it met the lock
    for job in (first, second):
        job.refresh_from_db()
        assert (job.status, job.done) == ("succeeded", 3)


@pytest.mark.django_db(transaction=True)
def test_a_job_whose_database_is_locked_as_it_starts_fails_with_the_reason_and_the_worker_goes_on(
    tenant: Tenant,
    people: None,
    queue: Path,
    worker_signals: None,
    at_task_start: Callable[[int, Callable[[], None]], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The database is locked as the first job's task starts, longer than the task waits and
    than django-tasks-db retries recording its failure: that job ends failed with the
    task's error (not queued forever), and the worker goes on to the next job."""
    first, second = export(tenant), export(tenant)
    hold = Hold(1.5)
    at_task_start(first.pk, hold.start)
    with short_lock_waits(0.2):
        run_worker()
    hold.join()
    assert "recorded as failed" in caplog.text  # once the database answered again
    first = jobs.refresh(first)
    assert first.status == "failed", first.error
    assert first.error.startswith("The job failed before it began: OperationalError: ")
    assert "lock" in first.error and first.error.endswith("Start it again.")
    second.refresh_from_db()
    assert second.status == "succeeded"


def _terminate_own_backend() -> None:
    """What a database restart or a network cut does: the server ends this connection."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or None,
        port=settings.get("PORT") or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_worker_outlives_a_dropped_connection(
    tenant: Tenant,
    people: None,
    queue: Path,
    worker_signals: None,
    at_task_start: Callable[[int, Callable[[], None]], None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, second = export(tenant), export(tenant)
    at_task_start(first.pk, _terminate_own_backend)
    run_worker()
    assert "the database failed" in caplog.text and "recorded as failed" in caplog.text
    first = jobs.refresh(first)
    assert first.status == "failed", first.error
    assert first.error.startswith("The job failed before it began: OperationalError: ")
    second.refresh_from_db()
    assert second.status == "succeeded"


# --- no job stays queued forever ------------------------------------------------------------


@pytest.mark.django_db
def test_a_job_whose_task_failed_before_it_began_is_failed_with_the_tasks_error(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, queue: Path
) -> None:
    job = export(tenant)
    task = DBTaskResult.objects.get()
    task.claim("worker-1")
    try:
        raise OperationalError("database is locked")
    except OperationalError as error:
        task.set_failed(error)  # as the worker records it
    client.force_login(admin_staff)
    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    reason = "The job failed before it began: OperationalError: database is locked. Start it again."
    assert reason in page
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", reason) and job.finished_at is not None
    api = make_api(tenant)
    assert api.get(f"/jobs/job_{job.pk}").json()["status"] == "failed"


@pytest.mark.django_db
def test_a_resumable_job_whose_task_failed_says_resume(tenant: Tenant, queue: Path) -> None:
    job = jobs.bulk_edit_job_start(
        tenant=tenant,
        staff_pk=None,
        q="",
        tier="user_metadata",
        key="beta",
        value=True,
        remove=False,
    )
    DBTaskResult.objects.get().set_failed(RuntimeError("boom"))
    job = jobs.refresh(job)
    assert job.error == "The job failed before it began: RuntimeError: boom. Resume to run it."
    assert jobs.resumable(job) and jobs.resume(job)
    job.refresh_from_db()
    assert (job.status, job.attempt) == ("queued", 1)
    # Its new task is the one that counts now: it is still to be run.
    assert jobs.refresh(job).status == "queued"


def _age(job: Job, ago: timedelta) -> None:
    """As if the job and its task had been queued `ago`."""
    when = timezone.now() - ago
    Job.objects.filter(pk=job.pk).update(created_at=when)
    DBTaskResult.objects.filter(args_kwargs__args=[job.pk, job.attempt]).update(enqueued_at=when)


@pytest.mark.django_db(transaction=True)
def test_a_job_no_worker_picked_up_is_failed_and_no_later_worker_runs_it(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    people: None,
    queue: Path,
    worker_signals: None,
) -> None:
    job = export(tenant)
    _age(job, UNCLAIMED_AFTER - timedelta(seconds=30))
    assert jobs.refresh(job).status == "queued"  # not yet
    _age(job, UNCLAIMED_AFTER + timedelta(seconds=30))
    client.force_login(admin_staff)
    client.get(reverse("users:job_list", args=[tenant.slug]))  # the list fails it
    job.refresh_from_db()
    assert (job.status, job.error) == ("failed", NO_WORKER)
    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    assert "No worker has picked this job up in 5 minutes: is `manage.py jobs_worker`" in page
    task = DBTaskResult.objects.get()
    assert task.status == TaskResultStatus.FAILED and "No worker" in task.traceback
    run_worker()  # a worker started now does not run a job reported as failed
    job.refresh_from_db()
    assert job.status == "failed" and not job.file_name


@pytest.mark.django_db
def test_a_queued_job_waits_while_a_worker_is_busy_then_fails_once_it_is_gone(
    tenant: Tenant, queue: Path
) -> None:
    busy = Job.objects.create(tenant=tenant, status=Job.Status.RUNNING, heartbeat_at=timezone.now())
    job = export(tenant)
    _age(job, UNCLAIMED_AFTER * 3)
    assert jobs.refresh(job).status == "queued"  # the worker will come to it
    Job.objects.filter(pk=busy.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))
    job = jobs.refresh(job)  # that worker has gone quiet: nobody will
    assert (job.status, job.error) == ("failed", NO_WORKER)


@pytest.mark.django_db
def test_a_job_whose_worker_stopped_before_it_began_is_failed(tenant: Tenant, queue: Path) -> None:
    job = export(tenant)
    task = DBTaskResult.objects.get()
    task.claim("worker-1")
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - timedelta(minutes=1))
    assert jobs.refresh(job).status == "queued"  # it may still begin
    DBTaskResult.objects.filter(pk=task.pk).update(started_at=timezone.now() - timedelta(minutes=3))
    job = jobs.refresh(job)
    assert (job.status, job.error) == (
        "failed",
        "The worker stopped before this job began. Start it again.",
    )


@pytest.mark.django_db
def test_a_job_whose_task_is_gone_is_failed(tenant: Tenant, queue: Path) -> None:
    job = export(tenant)
    DBTaskResult.objects.all().delete()
    assert jobs.refresh(job).status == "queued"  # just queued: its task may be on its way
    Job.objects.filter(pk=job.pk).update(created_at=timezone.now() - UNCLAIMED_AFTER * 2)
    job = jobs.refresh(job)
    assert job.status == "failed" and job.error.startswith("This job's task is not in the queue")


@pytest.mark.django_db
def test_a_task_whose_job_failed_meanwhile_leaves_it_alone(tenant: Tenant, queue: Path) -> None:
    job = export(tenant)
    Job.objects.filter(pk=job.pk).update(status=Job.Status.FAILED, error=NO_WORKER)
    jobs.run_export.call(job.pk, 0)
    job.refresh_from_db()
    assert (job.status, job.error, job.file_name) == ("failed", NO_WORKER, "")


@pytest.mark.django_db(transaction=True)
def test_starting_a_job_on_a_locked_database_is_a_page_saying_try_again(
    admin_staff: StaffAccount, tenant: Tenant, queue: Path
) -> None:
    """The console answers a lock that outlasted the wait with 503 and Retry-After, not a
    server error."""
    client = Client(raise_request_exception=False)
    client.force_login(admin_staff)
    with short_lock_waits(0.2), held(1.5):
        response = client.post(reverse("users:export_start", args=[tenant.slug]), {"q": ""})
    assert response.status_code == 503
    assert int(response["Retry-After"]) >= 1 and b"Try again in a moment" in response.content
    assert not Job.objects.exists()
