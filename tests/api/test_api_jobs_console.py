"""/api/v2/jobs: refusals, tenants and scopes, signed export links; and jobs an API client
started show in the console, named as the audit log names it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.api.conftest import Api, make_api
from tests.factories import FACTORY_CONTEXT
from users import jobs, services
from users.models import ApiClient, Job, Tenant

pytestmark = pytest.mark.django_db


def test_an_api_import_is_listed_with_its_client(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, api: Api, jobs_run_now: Path
) -> None:
    response = api.client.post(
        "/api/v2/jobs/users-imports",
        {
            "users": SimpleUploadedFile("u.json", json.dumps([{"email": "a@x.test"}]).encode()),
            "connection_id": "Username-Password-Authentication",
        },
        headers={"Authorization": f"Bearer {api.token}"},
    )
    assert response.status_code == 202
    job = Job.objects.get()
    assert response.json()["id"] == f"job_{job.pk}" and job.started_by == "api_client:app"
    client.force_login(admin_staff)
    listing = client.get(reverse("users:job_list", args=[tenant.slug])).content.decode()
    assert "api_client:app" in listing
    got = api.get(f"/jobs/job_{job.pk}").json()
    assert got["status"] == "completed" and got["summary"]["inserted"] == 1


def post_import(api: Api, data: bytes, **fields: str) -> Any:
    return api.client.post(
        "/api/v2/jobs/users-imports",
        {"users": SimpleUploadedFile("u.json", data), **fields},
        headers={"Authorization": f"Bearer {api.token}"},
    )


DB = "Username-Password-Authentication"


@pytest.mark.parametrize(
    ("data", "fields", "status", "message"),
    [
        (b"[{", {"connection_id": DB}, 400, "The file is not valid JSON"),
        (b"{}", {"connection_id": DB}, 400, "must be a JSON array"),
        (b"[]", {}, 400, "connection_id"),
        (b"[]", {"connection_id": "nope"}, 400, "does not exist"),
        (b"[" + b" " * 300 + b"]", {"connection_id": DB}, 413, "limit"),
    ],
)
def test_bad_imports_are_refused_and_queue_nothing(
    api: Api,
    jobs_wait: Path,
    settings: Any,
    data: bytes,
    fields: dict[str, str],
    status: int,
    message: str,
) -> None:
    settings.IMPORT_MAX_BYTES = 200
    response = post_import(api, data, **fields)
    assert response.status_code == status and message in response.json()["message"]
    assert response.json()["errorCode"] == "invalid_body"
    assert not Job.objects.exists()


def test_jobs_of_the_api(tenant: Tenant, api: Api, paid_api: Api, jobs_wait: Path) -> None:
    assert api.get("/jobs/job_999").json()["errorCode"] == "inexistent_job"
    assert api.get("/jobs/nonsense").status_code == 404
    export = api.call("POST", "/jobs/users-exports", {"format": "csv", "fields": [{"name": "x"}]})
    assert export.status_code == 400 and "Unknown column 'x'" in export.json()["message"]
    started = api.call("POST", "/jobs/users-exports", {"format": "json"})
    assert started.status_code == 201
    body = started.json()
    assert (body["type"], body["status"], body["format"]) == ("users_export", "pending", "json")
    assert api.get(f"/jobs/{body['id']}/errors").json() == []
    # Another tenant's client cannot see it.
    assert paid_api.get(f"/jobs/{body['id']}").status_code == 404
    writer = make_api(tenant, "update:users", name="writer")
    assert writer.get(f"/jobs/{body['id']}").json()["errorCode"] == "insufficient_scope"
    upserter = make_api(tenant, "create:users", name="creator")
    refused = post_import(upserter, b"[]", connection_id=DB, upsert="true")
    assert refused.status_code == 403 and not Job.objects.filter(kind="import").exists()


def test_a_signed_export_link_works_alone_and_not_forged(
    api: Api, tenant: Tenant, jobs_run_now: Path
) -> None:
    started = api.call("POST", "/jobs/users-exports", {"format": "csv"}).json()
    location = api.get(f"/jobs/{started['id']}").json()["location"]
    assert Client().get(location).status_code == 200  # no token needed: the link is signed
    forged = location.rsplit("/", 1)[0] + "/1:forged"
    assert "/jobs/files/" in forged
    assert Client().get(forged).status_code == 404


def test_a_signed_export_link_dies_with_its_file_and_its_client(
    api: Api, tenant: Tenant, jobs_run_now: Path
) -> None:
    started = api.call("POST", "/jobs/users-exports", {"format": "csv"}).json()
    location = api.get(f"/jobs/{started['id']}").json()["location"]
    job = Job.objects.get()
    Job.objects.filter(pk=job.pk).update(finished_at=timezone.now() - jobs.FILE_LIFETIME * 2)
    assert Client().get(location).status_code == 404  # expired, though the file is still there

    again = api.call("POST", "/jobs/users-exports", {"format": "csv"}).json()
    location = api.get(f"/jobs/{again['id']}").json()["location"]
    assert Client().get(location).status_code == 200
    client = ApiClient.objects.get(tenant=tenant)
    services.api_client_revoke(client=client, by=FACTORY_CONTEXT)
    assert Client().get(location).status_code == 404


def test_a_queued_api_import_keeps_its_file_for_the_worker(
    api: Api, tenant: Tenant, jobs_wait: Path
) -> None:
    """The job's params are written once, before it is queued: a worker that picks it up
    later finds the uploaded file (a later rewrite of the params had dropped it)."""
    response = post_import(
        api, json.dumps([{"email": "q@x.test"}]).encode(), connection_id=DB, external_id="run-7"
    )
    assert response.json()["external_id"] == "run-7"
    job = Job.objects.get()
    jobs.run_import.call(job.pk)
    job.refresh_from_db()
    assert job.status == "succeeded" and job.result["report"]["inserted"] == 1
