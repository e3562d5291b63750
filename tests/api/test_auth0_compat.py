"""Gaps Auth0's own clients found: generated name/nickname/picture, properties without a value
absent (never null), export job files gzipped with millisecond times, and the import errors
report echoing each refused user (secrets redacted) with Auth0's import error codes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from tests.api.conftest import Api
from tests.factories import FACTORY_CONTEXT, UserFactory
from users import services
from users.models import Tenant, User

pytestmark = pytest.mark.django_db
DB = "Username-Password-Authentication"
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMye" + "IjZAgcfl7p92ldGxad68LJZdL17lhWy"


def gravatar(email: str, letters: str) -> str:
    digest = hashlib.md5(email.encode(), usedforsecurity=False).hexdigest()
    return (
        f"https://s.gravatar.com/avatar/{digest}?s=480&r=pg"
        f"&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2F{letters}.png"
    )


def no_nulls(user: dict[str, Any]) -> None:
    """No root property of a user is null; both tiers are there, objects."""
    assert [key for key, value in user.items() if value is None] == []
    assert isinstance(user["user_metadata"], dict) and isinstance(user["app_metadata"], dict)


def test_every_user_response_leaves_out_what_has_no_value(api: Api, tenant: Tenant) -> None:
    created = api.call("POST", "/users", {"connection": DB, "email": "Jo.Doe@Acme.test"})
    assert created.status_code == 201
    body = created.json()
    no_nulls(body)
    # Generated as Auth0 does, and stored: the email, its local part, its Gravatar.
    assert body["name"] == "jo.doe@acme.test" and body["nickname"] == "jo.doe"
    assert body["picture"] == gravatar("jo.doe@acme.test", "jo")
    assert body["user_metadata"] == {} and body["app_metadata"] == {}
    for absent in ("given_name", "family_name", "username", "phone_number", "last_login"):
        assert absent not in body
    stored = User.objects.get(user_id=body["user_id"])
    assert (stored.name, stored.nickname, stored.picture) == (
        body["name"],
        body["nickname"],
        body["picture"],
    )
    path = f"/users/{body['user_id']}"
    no_nulls(api.get(path).json())
    no_nulls(api.get("/users").json()[0])
    no_nulls(api.get("/users", include_totals="true").json()["users"][0])
    no_nulls(api.get("/users-by-email", email="jo.doe@acme.test").json()[0])
    patched = api.call("PATCH", path, {"given_name": "Jo", "nickname": None})
    assert patched.status_code == 200
    no_nulls(patched.json())
    assert patched.json()["given_name"] == "Jo" and "nickname" not in patched.json()
    # A field asked for that has no value is left out too.
    assert api.get(path, fields="nickname,family_name").json() == {"user_id": body["user_id"]}


def test_given_values_are_kept_and_the_deny_list_is_honoured(api: Api, tenant: Tenant) -> None:
    mine = api.call(
        "POST",
        "/users",
        {"connection": DB, "email": "ada@acme.test", "name": "Ada", "picture": "https://x.test/a"},
    ).json()
    assert (mine["name"], mine["nickname"], mine["picture"]) == ("Ada", "ada", "https://x.test/a")
    tenant.deny_list = ["picture"]
    services.tenant_update(tenant=tenant, changed=["deny_list"], by=FACTORY_CONTEXT)
    denied = api.call("POST", "/users", {"connection": DB, "email": "bob@acme.test"}).json()
    assert "picture" not in denied and denied["nickname"] == "bob"


def test_the_openapi_document_types_user_properties_without_null(client: Client) -> None:
    schemas = client.get("/api/v2/openapi.json").json()["components"]["schemas"]
    user = schemas["UserOut"]
    assert user["required"] == ["user_id"]
    for name, prop in user["properties"].items():
        assert "anyOf" not in prop and prop.get("type") != "null", name
        assert "default" not in prop, name
    assert set(schemas["RowErrorOut"]["required"]) == {"code", "message", "path", "errorCode"}


def _wait_location(api: Api, job_id: str) -> str:
    job = api.get(f"/jobs/{job_id}").json()
    assert job["status"] == "completed", job
    location: str = job["location"]
    return location


def test_an_export_job_file_is_gzipped_with_millisecond_times(
    api: Api, tenant: Tenant, jobs_run_now: Path
) -> None:
    services.user_bulk_create(
        tenant=tenant,
        bodies=[
            {"connection": DB, "email": "zero@acme.test"},
            {"connection": DB, "email": "ms@x.t"},
        ],
        system_fields=[
            {"created_at": datetime(2026, 11, 30, 12, 0, tzinfo=UTC)},
            {
                "created_at": datetime(2026, 11, 30, 12, 0, 1, 123456, tzinfo=UTC),
                "last_login": datetime(2026, 12, 1, 8, 30, 0, 999999, tzinfo=UTC),
            },
        ],
        by=FACTORY_CONTEXT,
    )
    fields = [{"name": n} for n in ("email", "created_at", "last_login", "name", "nickname")]
    started = api.call("POST", "/jobs/users-exports", {"format": "json", "fields": fields})
    location = _wait_location(api, started.json()["id"])
    assert location.endswith(".ndjson.gz")
    response = Client().get(location)
    assert response.status_code == 200 and "Content-Encoding" not in response
    data = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    lines = [json.loads(line) for line in gzip.decompress(data).decode().splitlines()]
    by_email = {line["email"]: line for line in lines}
    assert by_email["zero@acme.test"]["created_at"] == "2026-11-30T12:00:00.000Z"
    assert by_email["ms@x.t"]["created_at"] == "2026-11-30T12:00:01.123Z"
    assert by_email["ms@x.t"]["last_login"] == "2026-12-01T08:30:00.999Z"
    assert by_email["zero@acme.test"]["last_login"] is None
    assert by_email["zero@acme.test"]["nickname"] == "zero"  # seeding generates them too
    # Exactly the API's format, to the character.
    user_id = User.objects.get(email="ms@x.t").user_id
    assert api.get(f"/users/{user_id}").json()["created_at"] == by_email["ms@x.t"]["created_at"]

    csv_job = api.call("POST", "/jobs/users-exports", {"format": "csv", "fields": fields}).json()
    location = _wait_location(api, csv_job["id"])
    assert location.endswith(".csv.gz")
    data = b"".join(Client().get(location).streaming_content)  # type: ignore[attr-defined]
    rows = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
    assert {row["email"]: row["created_at"] for row in rows} == {
        "zero@acme.test": "2026-11-30T12:00:00.000Z",
        "ms@x.t": "2026-11-30T12:00:01.123Z",
    }
    # The name at the end of the location is the file's: another one is not found.
    assert Client().get(location.rsplit("/", 1)[0] + "/other.csv.gz").status_code == 404


def test_import_errors_echo_each_user_with_auth0_codes(
    api: Api, tenant: Tenant, jobs_run_now: Path
) -> None:
    UserFactory.create(tenant=tenant, email="taken@x.test")
    UserFactory.create(tenant=tenant, email="other@x.test", user_id="auth0|taken-id")
    rows: list[Any] = [
        {"email": "key@x.test", "password_hash": BCRYPT, "user_metadata": {"a.b": 1}},
        {"name": "no email"},
        {"email": "not-an-email"},
        {"email": "taken@x.test", "given_name": "T"},
        {"email": "twice@x.test"},
        {"email": "twice@x.test"},
        {"email": "good@x.test"},
        {"email": "shoe@x.test", "shoe_size": 42},
        {"email": "flag@x.test", "email_verified": "yes"},
        {"email": "hash@x.test", "password_hash": "plain text"},
        "not an object",
        {"email": "id@x.test", "user_id": "taken-id"},
    ]
    response = api.client.post(
        "/api/v2/jobs/users-imports",
        {"users": SimpleUploadedFile("u.json", json.dumps(rows).encode()), "connection_id": DB},
        headers={"Authorization": f"Bearer {api.token}"},
    )
    job_id = response.json()["id"]
    assert api.get(f"/jobs/{job_id}").json()["summary"] == {
        "inserted": 1,
        "updated": 0,
        "failed": 11,
        "total": 12,
    }
    refused = api.get(f"/jobs/{job_id}/errors").json()
    got = [
        (r["user"], [(e["code"], e["errorCode"], e["path"]) for e in r["errors"]]) for r in refused
    ]
    assert got == [
        (
            {"email": "key@x.test", "password_hash": "*****", "user_metadata": {"a.b": 1}},
            [("PATTERN", "invalid_body", "user_metadata.a.b")],
        ),
        ({"name": "no email"}, [("OBJECT_REQUIRED", "invalid_body", "email")]),
        ({"email": "not-an-email"}, [("FORMAT", "invalid_body", "email")]),
        ({"email": "taken@x.test", "given_name": "T"}, [("CONFLICT_EMAIL", "user_exists", "")]),
        ({"email": "twice@x.test"}, [("DUPLICATED_USER", "invalid_body", "")]),
        ({"email": "twice@x.test"}, [("DUPLICATED_USER", "invalid_body", "")]),
        ({"email": "shoe@x.test", "shoe_size": 42}, [("NOT_PASSED", "invalid_body", "shoe_size")]),
        (
            {"email": "flag@x.test", "email_verified": "yes"},
            [("INVALID_TYPE", "invalid_body", "email_verified")],
        ),
        ({"email": "hash@x.test", "password_hash": "*****"}, [("PATTERN", "invalid_body", "")]),
        ({}, [("INVALID_TYPE", "invalid_body", "")]),
        ({"email": "id@x.test", "user_id": "taken-id"}, [("CONFLICT", "user_exists", "")]),
    ]
    assert all(error["message"] for r in refused for error in r["errors"])
    # No secret is kept anywhere in the job's files.
    for path in jobs_run_now.iterdir():
        if "errors" in path.name:
            assert BCRYPT not in path.read_text() and "plain text" not in path.read_text()
