"""Jobs an API client started show in the console, named as the audit log names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from tests.api.conftest import Api
from users.models import Job, Tenant

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
