"""The search time budget bounds the whole request on every path (API, console list,
exports, bulk-edit preview), not each SQL statement; background jobs get their own, larger
budget per statement."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.db import connection
from django.test import Client
from django.urls import reverse

from tests.api.conftest import Api, make_api
from users import jobs
from users.models import Job, Tenant, User
from users.search import QueryTooExpensive, search_users
from users.search.budget import time_budget

pytestmark = pytest.mark.django_db


def test_time_spent_outside_the_database_counts_against_the_budget(user: User) -> None:
    with pytest.raises(QueryTooExpensive), time_budget(100):
        time.sleep(0.15)
        User.objects.count()
    assert User.objects.count() == 1  # the connection is fine afterwards


@pytest.mark.postgres
def test_the_budget_is_for_all_statements_together_on_postgresql(user: User) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (run with DATABASE_URL=postgres://...): pg_sleep")
    with connection.cursor() as cursor:
        # Two statements of 0.3 s each: both fit a 0.5 s budget alone, not together.
        with pytest.raises(QueryTooExpensive), time_budget(500):
            cursor.execute("SELECT pg_sleep(0.3)")
            cursor.execute("SELECT pg_sleep(0.3)")
        with time_budget(500, per_statement=True):  # a job's budget: per statement
            cursor.execute("SELECT pg_sleep(0.3)")
            cursor.execute("SELECT pg_sleep(0.3)")
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone()[0] == "0"  # put back as it was


@pytest.fixture
def no_time(settings: Any) -> None:
    settings.SEARCH_TIMEOUT_MS = 0
    settings.DOWNLOAD_TIMEOUT_MS = 0


def test_the_api_answers_503_in_its_error_shape(tenant: Tenant, user: User, no_time: None) -> None:
    api: Api = make_api(tenant)
    response = api.get("/users", q="email:*@example.com")
    assert response.status_code == 503
    assert response.json()["errorCode"] == "query_too_expensive"
    assert search_users(tenant, "", timeout_ms=3000).total == 1


def test_console_paths_say_so_inline(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, user: User, no_time: None
) -> None:
    client.force_login(admin_staff)
    listing = client.get(reverse("users:user_list", args=[tenant.slug]), {"q": "ada"})
    assert listing.status_code == 200 and "was stopped" in listing.content.decode()

    download = client.get(
        reverse("users:user_export", args=[tenant.slug]), {"format": "csv", "q": ""}
    )
    assert download.status_code == 302  # back to the list, with the reason as a message
    page = client.get(download["Location"]).content.decode()
    assert "was stopped" in page

    export = client.post(
        reverse("users:user_export", args=[tenant.slug]),
        {"q": "", "preset": "default", "format": "csv"},
    )
    assert export.status_code == 400 and "was stopped" in export.content.decode()

    preview = client.post(
        reverse("users:bulk_edit", args=[tenant.slug]),
        {"q": "", "tier": "user_metadata", "key": "k", "action": "set", "value": "1"},
    )
    assert "was stopped" in preview.content.decode()
    user.refresh_from_db()
    assert "k" not in user.user_metadata


def test_a_job_has_its_own_budget(
    admin_staff: StaffAccount, tenant: Tenant, user: User, jobs_run_now: Path, settings: Any
) -> None:
    settings.SEARCH_TIMEOUT_MS = 0  # interactive searches fail, jobs do not
    jobs.bulk_edit_job_start(
        tenant=tenant,
        staff_pk=admin_staff.pk,
        q="",
        tier="user_metadata",
        key="k",
        value=1,
        remove=False,
    )
    assert Job.objects.get().status == "succeeded"
    user.refresh_from_db()
    assert user.user_metadata["k"] == 1
