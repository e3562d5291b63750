"""Auth0's official Python SDK (auth0-python v6) against a live server: an application written
for Auth0's Management API works unchanged when pointed here."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from auth0.management import Auth0
from auth0.management.core.api_error import ApiError as SdkError

from tests.api.conftest import ALL_SCOPES
from tests.factories import FACTORY_CONTEXT
from users import services
from users.models import Tenant, User

pytestmark = pytest.mark.django_db(transaction=True)
DB = "Username-Password-Authentication"


@pytest.fixture
def sdk(live_server: Any, tenant: Tenant, jobs_run_now: Path) -> Auth0:
    _, token = services.api_client_create(
        tenant=tenant, name="sdk", scopes=ALL_SCOPES, by=FACTORY_CONTEXT
    )
    return Auth0(base_url=f"{live_server.url}/api/v2", token=token, max_retries=0)


def test_users_end_to_end(sdk: Auth0, tenant: Tenant) -> None:
    created = [
        sdk.users.create(
            connection=DB,
            email=f"user{i}@acme.test",
            name=f"User {i}",
            user_metadata={"theme": "dark" if i % 2 else "light", "n": i},
            app_metadata={"plan": "pro"},
        )
        for i in range(7)
    ]
    assert created[3].user_metadata is not None and created[3].email == "user3@acme.test"
    assert created[0].identities and created[0].identities[0].connection == DB

    # Search with q, and let the SDK's pager walk the pages (3 a page).
    dark = sdk.users.list(q="user_metadata.theme:dark", per_page=3, sort="email:1")
    emails = [user.email for user in dark]
    assert emails == ["user1@acme.test", "user3@acme.test", "user5@acme.test"]
    every = list(sdk.users.list(per_page=3))
    assert len(every) == 7 and len({user.user_id for user in every}) == 7
    first_page = sdk.users.list(per_page=3, include_totals=True).response
    assert first_page is not None and first_page.total == 7 and first_page.length == 3

    # Patch: merge at the first level, null deletes a key, {} clears a tier.
    user_id = created[1].user_id
    assert user_id is not None
    merged = sdk.users.update(user_id, user_metadata={"prefs": {"lang": "fr"}})
    assert dict(merged.user_metadata or {}) == {
        "theme": "dark",
        "n": 1,
        "prefs": {"lang": "fr"},
    }
    removed = sdk.users.update(user_id, user_metadata={"n": None})
    assert dict(removed.user_metadata or {}) == {"theme": "dark", "prefs": {"lang": "fr"}}
    cleared = sdk.users.update(user_id, app_metadata={})
    assert dict(cleared.app_metadata or {}) == {}

    # Get by id and by email, then delete.
    fetched = sdk.users.get(user_id)
    assert fetched.email == "user1@acme.test" and fetched.created_at is not None
    by_email = sdk.users.list_users_by_email(email="USER1@acme.test")
    assert [user.user_id for user in by_email] == [user_id]
    sdk.users.delete(user_id)
    with pytest.raises(SdkError) as missing:
        sdk.users.get(user_id)
    assert missing.value.status_code == 404
    assert missing.value.body["errorCode"] == "inexistent_user"
    assert User.objects.filter(tenant=tenant).count() == 6


def test_refusals_reach_the_sdk_as_auth0_errors(sdk: Auth0) -> None:
    with pytest.raises(SdkError) as gated:
        list(sdk.users.list(q="app_metadata.plan:pro"))
    assert (gated.value.status_code, gated.value.body["errorCode"]) == (403, "plan_required")
    sdk.users.create(connection=DB, email="a@acme.test")
    with pytest.raises(SdkError) as taken:
        sdk.users.create(connection=DB, email="A@acme.test")
    assert (taken.value.status_code, taken.value.body["errorCode"]) == (409, "user_exists")


def test_import_and_export_jobs(sdk: Auth0, tenant: Tenant, live_server: Any) -> None:
    rows = [
        {"email": "in1@acme.test", "user_metadata": {"theme": "dark"}},
        {"email": "in2@acme.test", "user_metadata": {"a.b": 1}},
    ]
    started = sdk.jobs.users_imports.create(
        users=("users.json", json.dumps(rows).encode(), "application/json"),
        connection_id=DB,
    )
    assert started.type == "users_import" and started.connection_id == DB
    job = _wait(sdk, started.id)
    assert job.status == "completed"
    assert job.summary is not None and (job.summary.inserted, job.summary.failed) == (1, 1)
    refused = sdk.jobs.errors.get(started.id)
    assert isinstance(refused, list) and refused[0].errors
    assert refused[0].errors[0].path == "user_metadata.a.b"

    export = sdk.jobs.users_exports.create(
        format="csv", fields=[{"name": "email"}, {"name": "user_metadata.theme", "export_as": "t"}]
    )
    done = _wait(sdk, export.id)
    assert done.status == "completed" and done.location
    text = gzip.decompress(httpx.get(done.location).content).decode()  # Auth0's files are gzipped
    assert text.splitlines()[0] == "email,t" and "in1@acme.test,dark" in text


def _wait(sdk: Auth0, job_id: str) -> Any:
    for _ in range(50):
        job = sdk.jobs.get(job_id)
        if job.status in ("completed", "failed"):
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not finish")
