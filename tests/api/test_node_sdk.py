"""Auth0's official Node SDK (npm `auth0`, its ManagementClient) against a live server: an
application written for Auth0's Management API works unchanged when pointed here.

The SDK is pinned in tests/api/node/package-lock.json and installed with `npm ci` the first
time (CI included: the machine has node, npm and the registry); node_modules is not kept
in git. The script (tests/api/node/sdk_check.mjs) prints JSON that this test asserts on."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import ALL_SCOPES
from tests.factories import FACTORY_CONTEXT
from users import services
from users.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def _run(node_sdk: Path, base_url: str, token: str) -> dict[str, Any]:
    done = subprocess.run(
        ["node", "sdk_check.mjs"],
        cwd=node_sdk,
        env={**os.environ, "BASE_URL": base_url, "TOKEN": token},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _no_nulls(user: dict[str, Any]) -> None:
    assert {key: value for key, value in user.items() if value is None} == {}
    assert isinstance(user["user_metadata"], dict) and isinstance(user["app_metadata"], dict)


def test_the_node_sdk_end_to_end(
    node_sdk: Path, live_server: Any, tenant: Tenant, jobs_run_now: Path
) -> None:
    _, token = services.api_client_create(
        tenant=tenant, name="node-sdk", scopes=ALL_SCOPES, by=FACTORY_CONTEXT
    )
    out = _run(node_sdk, live_server.url, token)

    created, fetched, patched = out["created"], out["fetched"], out["patched"]
    for user in (created, fetched, patched, *out["byEmail"], *out["listed"]):
        _no_nulls(user)
    assert created["email"] == "node.user@acme.test"
    assert (fetched["name"], fetched["nickname"]) == ("node.user@acme.test", "node.user")
    assert fetched["picture"].startswith("https://s.gravatar.com/avatar/")
    assert "given_name" not in fetched and "last_login" not in fetched
    assert fetched["user_metadata"] == {"theme": "dark", "n": 1}
    assert fetched["app_metadata"] == {"plan": "pro"}
    assert MILLIS.match(fetched["created_at"])
    assert patched["user_metadata"] == {"theme": "dark", "lang": "fr"}
    assert [user["user_id"] for user in out["byEmail"]] == [created["user_id"]]
    assert [user["user_id"] for user in out["listed"]] == [created["user_id"]]

    job, file = out["exportJob"], out["exportFile"]
    assert job["status"] == "completed" and job["location"].endswith(".gz")
    assert file["status"] == 200 and file["contentEncoding"] is None
    (line,) = [json.loads(text) for text in file["text"].splitlines()]
    assert line["email"] == "node.user@acme.test" and line["nickname"] == "node.user"
    assert line["user_metadata"] == {"theme": "dark", "lang": "fr"}
    assert line["created_at"] == fetched["created_at"]

    assert out["importJob"]["summary"] == {"inserted": 1, "updated": 0, "failed": 2, "total": 3}
    refused = {json.dumps(r["user"], sort_keys=True): r["errors"] for r in out["importErrors"]}
    assert refused == {
        json.dumps({"email": "node.user@acme.test", "password_hash": "*****"}, sort_keys=True): [
            {
                "code": "CONFLICT_EMAIL",
                "errorCode": "user_exists",
                "message": "node.user@acme.test already exists; import with upsert to update it.",
                "path": "",
            }
        ],
        json.dumps({"name": "no email"}): [
            {
                "code": "OBJECT_REQUIRED",
                "errorCode": "invalid_body",
                "message": "email is required.",
                "path": "email",
            }
        ],
    }
