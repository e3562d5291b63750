"""Export jobs: queued, run by a worker, watched, downloaded; a stopped worker fails the job."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory
from users import jobs
from users.models import Job, Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tenant: Tenant) -> None:
    for i in range(3):
        UserFactory.create(tenant=tenant, email=f"p{i}@x.test", user_metadata={"n": i})


def start(client: Client, tenant: Tenant, **data: str) -> Any:
    return client.post(reverse("users:export_start", args=[tenant.slug]), data)


def test_an_export_job_runs_and_its_file_downloads(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    people: None,
    jobs_run_now: Path,
) -> None:
    client.force_login(admin_staff)
    response = start(client, tenant, q="user_metadata.n:[1 TO *]", format="csv")
    job = Job.objects.get()
    assert response["Location"] == reverse("users:job_detail", args=[tenant.slug, job.pk])
    job.refresh_from_db()
    assert (job.status, job.total, job.done) == ("succeeded", 2, 2)
    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "Download export-" in page and "every 1s" not in page
    download = client.get(reverse("users:job_download", args=[tenant.slug, job.pk]))
    body = b"".join(download.streaming_content).decode()  # type: ignore[attr-defined]
    assert body.splitlines()[1:] and "p1@x.test" in body and "p0@x.test" not in body


def test_a_queued_job_page_polls(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, jobs_wait: Path
) -> None:
    client.force_login(admin_staff)
    response = start(client, tenant)
    fragment = client.get(response["Location"], headers={"HX-Request": "true"}).content.decode()
    assert fragment.lstrip().startswith('<section id="job-progress"') and "every 1s" in fragment
    assert "waits for a worker" in fragment
    assert (
        client.get(
            reverse("users:job_download", args=[tenant.slug, Job.objects.get().pk])
        ).status_code
        == 404
    )


def test_a_job_whose_worker_stopped_is_failed_with_the_reason(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    job = Job.objects.create(
        tenant=tenant,
        status=Job.Status.RUNNING,
        total=10,
        done=4,
        heartbeat_at=timezone.now() - timedelta(minutes=5),
    )
    client.force_login(admin_staff)
    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    assert "The worker stopped while this export ran; start it again." in page
    job.refresh_from_db()
    assert job.status == "failed"


def test_files_expire_after_a_day(tenant: Tenant, job_files: Path) -> None:
    job = Job.objects.create(
        tenant=tenant,
        status=Job.Status.SUCCEEDED,
        finished_at=timezone.now() - timedelta(hours=25),
        file_name="x.csv",
    )
    assert jobs.expired(job)


def test_bad_exports_are_refused_before_queueing(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, jobs_wait: Path
) -> None:
    client.force_login(admin_staff)
    response = start(client, tenant, q="app_metadata.plan:pro")
    assert not Job.objects.exists()
    assert "Export refused" in client.get(response["Location"]).content.decode()


@pytest.mark.parametrize(("persona", "status"), [("editor", 403), ("outsider", 404)])
def test_jobs_need_admin(
    client: Client, request: pytest.FixtureRequest, tenant: Tenant, persona: str, status: int
) -> None:
    job = Job.objects.create(tenant=tenant)
    client.force_login(request.getfixturevalue(persona))
    assert start(client, tenant).status_code == status
    assert client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).status_code == status


def test_expired_files_are_pruned(
    tenant: Tenant, job_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from django.core.management import call_command

    old = Job.objects.create(
        tenant=tenant,
        status=Job.Status.SUCCEEDED,
        finished_at=timezone.now() - timedelta(hours=25),
        file_name="old.csv",
    )
    fresh = Job.objects.create(
        tenant=tenant,
        status=Job.Status.SUCCEEDED,
        finished_at=timezone.now(),
        file_name="fresh.csv",
    )
    (job_files / "old.csv").write_text("x")
    (job_files / "fresh.csv").write_text("y")
    call_command("jobs_prune")
    assert "Deleted 1 expired job files." in capsys.readouterr().out
    assert not (job_files / "old.csv").exists() and (job_files / "fresh.csv").exists()
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.file_name, fresh.file_name) == ("", "fresh.csv")


def test_the_job_list_fails_stopped_jobs_without_a_query_per_job(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    django_assert_max_num_queries: Any,
) -> None:
    stopped = Job.objects.create(
        tenant=tenant, status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )
    for _ in range(20):
        Job.objects.create(tenant=tenant, status=Job.Status.SUCCEEDED, finished_at=timezone.now())
    client.force_login(admin_staff)
    client.get(reverse("users:job_list", args=[tenant.slug]))
    stopped.refresh_from_db()
    assert stopped.status == "failed"
    with django_assert_max_num_queries(12):
        page = client.get(reverse("users:job_list", args=[tenant.slug])).content.decode()
    assert page.count("Export #") == 21
