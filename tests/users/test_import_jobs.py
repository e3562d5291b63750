"""Imports, bulk edits and batch reverts as jobs: the console flow, refusals before anything is
queued, and going on after a worker stopped mid-way."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.conftest import IMMEDIATE_TASKS
from tests.factories import UserFactory
from tests.helpers import bulk_edit_previewed, events
from users import batches, jobs
from users.audit import verify_chain
from users.models import Job, Tenant, User

pytestmark = pytest.mark.django_db


def upload(client: Client, tenant: Tenant, name: str, data: bytes, **fields: str) -> Any:
    return client.post(
        reverse("users:import_start", args=[tenant.slug]),
        {"file": SimpleUploadedFile(name, data), "metadata_mode": "replace", **fields},
    )


def people(count: int, *extra: dict[str, Any]) -> bytes:
    rows = [{"email": f"p{i}@x.test", "user_metadata": {"n": i}} for i in range(count)]
    return json.dumps(rows + list(extra)).encode()


def test_dry_run_then_import_for_real_from_the_console(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, jobs_run_now: Path
) -> None:
    client.force_login(admin_staff)
    form = client.get(reverse("users:import_start", args=[tenant.slug])).content.decode()
    assert 'enctype="multipart/form-data"' in form and "Dry run" in form
    data = people(3, {"email": "bad@x.test", "user_metadata": {"a.b": 1}})
    response = upload(client, tenant, "people.json", data, intent="dry_run")
    dry = Job.objects.get()
    assert response["Location"] == reverse("users:job_detail", args=[tenant.slug, dry.pk])
    page = client.get(response["Location"]).content.decode()
    assert f"Import #{dry.pk} (dry run)" in page
    assert "would insert <strong>3</strong>" in page and "failed <strong>1</strong>" in page
    assert "p0@x.test" in page and "inserted" in page and "<code>user_metadata.a.b</code>" in page
    assert not User.objects.filter(tenant=tenant).exists() and not events(
        tenant, action="user.create"
    )
    # The refused rows download as NDJSON, with code, message and path.
    download = client.get(reverse("users:job_download", args=[tenant.slug, dry.pk]))
    lines = b"".join(download.streaming_content).decode().splitlines()  # type: ignore[attr-defined]
    assert [json.loads(line)["errors"][0]["path"] for line in lines] == ["user_metadata.a.b"]
    assert json.loads(lines[0])["user"] == "bad@x.test"

    real = client.post(reverse("users:import_repeat", args=[tenant.slug, dry.pk]))
    job = Job.objects.exclude(pk=dry.pk).get()
    assert real["Location"] == reverse("users:job_detail", args=[tenant.slug, job.pk])
    page = client.get(real["Location"]).content.decode()
    assert "Inserted <strong>3</strong>" in page and "Revert the whole batch" in page
    assert User.objects.filter(tenant=tenant).count() == 3
    batch = job.result["report"]["batch_id"]
    assert len(events(tenant, action="user.create", batch_id=batch)) == 3
    assert (job.done, job.total) == (4, 4)


def test_csv_upsert_import_by_extension(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, jobs_run_now: Path
) -> None:
    UserFactory.create(tenant=tenant, email="a@x.test", user_metadata={"keep": 1})
    client.force_login(admin_staff)
    data = b"email,user_metadata.theme\na@x.test,dark\nb@x.test,light\n"
    upload(client, tenant, "users.CSV", data, intent="import", upsert="on", metadata_mode="merge")
    job = Job.objects.get()
    assert job.result["report"]["inserted"] == 1 and job.result["report"]["updated"] == 1
    assert User.objects.get(email="a@x.test").user_metadata == {"keep": 1, "theme": "dark"}
    assert job.file_name == ""  # nothing failed, so there is nothing to download


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("users.json", b"[{", "The file is not valid JSON: Expecting property name"),
        ("users.json", b"\xff\xfe[]", "The file is not UTF-8: byte 0xff at position 0"),
        ("users.csv", b"email,shoe_size\na@x.test,44\n", "Unknown column(s): shoe_size"),
        ("users.txt", b"[]", "Choose JSON or CSV: the file name does not say."),
        ("users.json", b"[" + b" " * 300 + b"]", "the limit is 200 bytes. Split it."),
    ],
)
def test_bad_files_are_refused_and_nothing_is_queued(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    jobs_wait: Path,
    settings: Any,
    name: str,
    data: bytes,
    message: str,
) -> None:
    settings.IMPORT_MAX_BYTES = 200
    client.force_login(admin_staff)
    response = upload(client, tenant, name, data, intent="import")
    assert response.status_code == 400
    assert message in response.content.decode().replace("&#x27;", "'")
    assert not Job.objects.exists() and not list(jobs_wait.iterdir())


def test_duplicate_users_in_one_file_change_nothing(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, jobs_run_now: Path
) -> None:
    client.force_login(admin_staff)
    data = people(2, {"email": "P1@x.test", "user_metadata": {"n": 9}})
    upload(client, tenant, "people.json", data, intent="import")
    report = Job.objects.get().result["report"]
    assert (report["inserted"], report["failed"]) == (1, 2)
    assert list(User.objects.filter(tenant=tenant).values_list("email", flat=True)) == ["p0@x.test"]
    assert "is in this file 2 times (users 2, 3)" in report["failures"][0]["errors"][0]["message"]


@pytest.mark.parametrize(("persona", "status"), [("editor", 403), ("outsider", 404)])
def test_import_needs_admin(
    client: Client,
    request: pytest.FixtureRequest,
    tenant: Tenant,
    jobs_wait: Path,
    persona: str,
    status: int,
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert upload(client, tenant, "u.json", people(1), intent="import").status_code == status
    assert not Job.objects.exists()


def queue_import(tenant: Tenant, data: bytes) -> Job:
    """An import queued as the console queues it (run it, or let it wait)."""
    return jobs.import_job_start(
        tenant=tenant,
        staff_pk=None,
        data=data,
        file_name="p.json",
        fmt="json",
        upsert=False,
        metadata_mode="replace",
        dry_run=False,
    )


def stop_the_worker(job: Job) -> None:
    """What a killed worker leaves: the job running, its heartbeat getting old."""
    Job.objects.filter(pk=job.pk).update(
        status=Job.Status.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=5)
    )


def killed_at_chunk(number: int) -> Callable[[str, int], None]:
    """A `batches.before_each_chunk` hook that kills the worker as chunk `number` (from 0)
    starts: SystemExit is no Exception, so the job's own error handling never sees it, as
    with a real kill."""

    def hook(kind: str, chunk: int) -> None:
        if chunk == number:
            raise SystemExit("worker killed")

    return hook


def test_an_import_whose_worker_stopped_resumes_where_it_was(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    jobs_run_now: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The worker is killed during the third chunk: two chunks are in, the third rolled back
    whole. The job page says so; Resume imports the rest, in the same batch, nothing twice."""
    monkeypatch.setattr("users.batches.imports.CHUNK_ROWS", 2)
    client.force_login(admin_staff)
    data = people(6, {"email": "bad@x.test", "blocked": "yes"})
    with batches.before_each_chunk(killed_at_chunk(2)):
        upload(client, tenant, "people.json", data, intent="import")  # the runner swallows it
    job = Job.objects.get()
    stop_the_worker(job)
    assert User.objects.filter(tenant=tenant).count() == 4

    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    assert "The worker stopped after 4 of 7." in page and ">Resume</button>" in page
    client.post(reverse("users:job_resume", args=[tenant.slug, job.pk]))
    job.refresh_from_db()
    assert (job.status, job.attempt, job.done) == ("succeeded", 1, 7)
    report = job.result["report"]
    assert (report["inserted"], report["failed"], report["total"]) == (6, 1, 7)
    assert User.objects.filter(tenant=tenant).count() == 6
    created = events(tenant, action="user.create")
    assert len(created) == 6 and {str(e.batch_id) for e in created} == {report["batch_id"]}
    assert verify_chain(tenant).ok
    errors = (jobs_run_now / job.file_name).read_text().splitlines()
    assert [json.loads(line)["user"] for line in errors] == ["bad@x.test"]
    # Resuming twice does nothing.
    assert not jobs.resume(job)


def test_a_replaced_run_stops_without_writing(tenant: Tenant, jobs_wait: Path) -> None:
    """A worker that was only slow, not dead: while it works on its chunk, its job is failed
    as stale and resumed elsewhere. At its checkpoint it stops quietly; its chunk rolls back."""
    job = queue_import(tenant, people(3))

    def resumed_elsewhere_meanwhile(kind: str, chunk: int) -> None:
        Job.objects.filter(pk=job.pk).update(attempt=1)

    with batches.before_each_chunk(resumed_elsewhere_meanwhile):
        jobs.run_import.call(job.pk)
    assert not User.objects.filter(tenant=tenant).exists() and not events(
        tenant, action="user.create"
    )
    job.refresh_from_db()
    assert (job.status, job.result) == ("running", {})  # the other run's to finish


def test_a_bulk_edit_whose_worker_stopped_resumes(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    jobs_run_now: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("users.batches.runner.BATCH_CHUNK", 2)
    for i in range(5):
        UserFactory.create(tenant=tenant, email=f"u{i}@x.test")
    client.force_login(admin_staff)
    data = {"q": "", "tier": "user_metadata", "key": "beta", "action": "set", "value": "true"}
    apply = bulk_edit_previewed(client, tenant, data)
    with batches.before_each_chunk(killed_at_chunk(1)):
        client.post(reverse("users:bulk_edit", args=[tenant.slug]), apply)
    job = Job.objects.get()
    stop_the_worker(job)
    assert User.objects.filter(user_metadata__beta=True).count() == 2
    assert jobs.refresh(job).status == "failed" and jobs.resumable(job)
    assert jobs.resume(job)
    job.refresh_from_db()
    assert (job.status, job.result["report"]["changed"], job.done) == ("succeeded", 5, 5)
    assert User.objects.filter(user_metadata__beta=True).count() == 5
    assert len(events(tenant, batch_id=job.result["report"]["batch_id"])) == 5


def test_an_export_whose_worker_stopped_is_not_resumable(tenant: Tenant) -> None:
    job = Job.objects.create(
        tenant=tenant, kind=Job.Kind.EXPORT, result={"report": {}}, status=Job.Status.RUNNING
    )
    stop_the_worker(job)
    assert jobs.refresh(job).status == "failed" and not jobs.resumable(job)
    assert not jobs.resume(job)


def test_a_job_that_stopped_before_its_first_chunk_starts_again(
    tenant: Tenant, jobs_wait: Path, settings: Any
) -> None:
    job = queue_import(tenant, people(2))
    stop_the_worker(job)
    assert jobs.refresh(job).status == "failed" and "after 0 of 2" in job.error
    settings.TASKS = IMMEDIATE_TASKS
    assert jobs.resume(job)
    job.refresh_from_db()
    assert job.status == "succeeded" and User.objects.filter(tenant=tenant).count() == 2


def test_the_refused_rows_kept_are_bounded_and_every_one_is_counted(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    jobs_run_now: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("users.jobs.lifecycle.ERRORS_FILE_MAX_BYTES", 2000)
    client.force_login(admin_staff)
    bad = [{"email": f"bad{i}@x.test", "blocked": "yes"} for i in range(200)]
    upload(client, tenant, "bad.json", json.dumps(bad).encode(), intent="import")
    job = Job.objects.get()
    assert job.result["report"]["failed"] == 200
    kept = (jobs_run_now / job.file_name).read_bytes()
    assert 0 < len(kept) <= 2000 and kept.count(b"\n") < 200
    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    assert "Download the 200 refused rows" in page and "keeps the first of them" in page
