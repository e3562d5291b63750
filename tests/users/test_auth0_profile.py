"""What Auth0 generates for a new user (name, nickname, picture) on every channel and for the
users from before (migration 0012); export times as the API writes them; Auth0's import
error codes."""

from __future__ import annotations

import csv
import gzip
import hashlib
import importlib
import io
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.apps import apps

from tests.factories import FACTORY_CONTEXT, TenantFactory, UserFactory
from tests.helpers import events
from users import batches, metadata, services
from users.batches.import_errors import REDACTED, auth0_code, auth0_failure, redacted
from users.exports import export_users
from users.imports import BadRow
from users.metadata.defaults import generated_profile, gravatar_url
from users.models import Connection, Strategy, Tenant, User
from users.search import users_matching
from users.times import iso_millis

pytestmark = pytest.mark.django_db
AVATAR = "https://s.gravatar.com/avatar/"


def test_generated_profile_is_auth0s() -> None:
    assert generated_profile({"email": "Jo.Doe@x.test"}) == {
        "name": "Jo.Doe@x.test",
        "nickname": "Jo.Doe",
        "picture": gravatar_url("jo.doe@x.test"),
    }
    given = {"email": "a@x.test", "name": "A", "nickname": "", "picture": None}
    assert generated_profile(given) == {"picture": gravatar_url("a@x.test")}
    assert generated_profile({"email": "a@x.test"}, {"name", "picture"}) == {"nickname": "a"}
    assert generated_profile({"username": "jo", "phone_number": "+15550100"}) == {
        "name": "+15550100",
        "nickname": "jo",
    }
    assert generated_profile({}) == {}


def test_the_gravatar_is_the_md5_of_the_lowercased_email() -> None:
    digest = hashlib.md5(b"jo.doe@x.test", usedforsecurity=False).hexdigest()
    assert gravatar_url(" Jo.Doe@X.test ") == (
        f"{AVATAR}{digest}?s=480&r=pg&d=https%3A%2F%2Fcdn.auth0.com%2Favatars%2Fjo.png"
    )
    assert gravatar_url("_1@x.test").endswith("avatars%2F1x.png")


def test_every_channel_stores_them_and_audits_them(tenant: Tenant) -> None:
    made = UserFactory.create(tenant=tenant, email="Made@X.test")
    assert (made.name, made.nickname) == ("made@x.test", "made")
    assert made.picture == gravatar_url("made@x.test")
    (created,) = events(tenant, action="user.create", target_user_id=made.user_id)
    assert {op["path"] for op in created.forward_patch} >= {"/name", "/nickname", "/picture"}

    report = batches.import_users(tenant, [{"email": "imp@x.test", "nickname": "mine"}])
    imported = User.objects.get(email="imp@x.test")
    assert report.inserted == 1 and (imported.name, imported.nickname) == ("imp@x.test", "mine")

    (seeded,) = services.user_bulk_create(
        tenant=tenant, bodies=[{"email": "seed@x.test"}], by=FACTORY_CONTEXT
    )
    assert User.objects.get(pk=seeded.pk).nickname == "seed"
    # Search sees them, as it sees any stored value.
    assert set(users_matching(tenant, "nickname:seed").values_list("email", flat=True)) == {
        "seed@x.test"
    }


def test_social_users_have_their_providers_and_nothing_generated(tenant: Tenant) -> None:
    Connection.objects.create(tenant=tenant, name="google-oauth2", strategy=Strategy.SOCIAL)
    social = UserFactory.create(tenant=tenant, email="s@x.test", connection="google-oauth2")
    assert (social.name, social.nickname, social.picture) == (None, None, None)


def _migration_fill() -> Any:
    return importlib.import_module("users.migrations.0012_generated_profile_fields").fill


def test_migration_0012_fills_in_users_from_before(tenant: Tenant) -> None:
    old = UserFactory.create(tenant=tenant, email="old@x.test")
    named = UserFactory.create(tenant=tenant, email="named@x.test", name="Named")
    Connection.objects.create(tenant=tenant, name="google-oauth2", strategy=Strategy.SOCIAL)
    social = UserFactory.create(tenant=tenant, email="s@x.test", connection="google-oauth2")
    denying = TenantFactory.create(slug="denying", deny_list=["picture"])
    denied = UserFactory.create(tenant=denying, email="denied@x.test")
    # As they were before: nothing generated.
    User.objects.filter(pk__in=[old.pk, denied.pk]).update(name=None, nickname=None, picture=None)
    User.objects.filter(pk=named.pk).update(nickname=None, picture=None)
    before = {user.pk: user for user in User.objects.all()}

    _migration_fill()(apps, None)

    after = {user.pk: user for user in User.objects.all()}
    assert (after[old.pk].name, after[old.pk].nickname) == ("old@x.test", "old")
    assert after[old.pk].picture == gravatar_url("old@x.test")
    assert after[old.pk].version == before[old.pk].version + 1
    assert after[old.pk].updated_at > before[old.pk].updated_at
    assert (after[named.pk].name, after[named.pk].nickname) == ("Named", "named")
    assert (after[denied.pk].nickname, after[denied.pk].picture) == ("denied", None)
    assert after[social.pk].version == before[social.pk].version
    assert after[social.pk].name is None
    # Run again: nothing left to fill, nothing changes.
    _migration_fill()(apps, None)
    assert {u.pk: u.version for u in User.objects.all()} == {
        pk: u.version for pk, u in after.items()
    }


@pytest.mark.parametrize(
    ("moment", "text"),
    [
        (datetime(2026, 11, 30, 12, 0, tzinfo=UTC), "2026-11-30T12:00:00.000Z"),
        (datetime(2026, 11, 30, 12, 0, 5, 42, tzinfo=UTC), "2026-11-30T12:00:05.000Z"),
        (datetime(2026, 11, 30, 12, 0, 5, 987654, tzinfo=UTC), "2026-11-30T12:00:05.987Z"),
    ],
)
def test_exports_write_times_as_the_api_does(tenant: Tenant, moment: datetime, text: str) -> None:
    services.user_bulk_create(
        tenant=tenant,
        bodies=[{"email": "t@x.test"}],
        system_fields=[{"created_at": moment, "updated_at": moment, "last_login": moment}],
        by=FACTORY_CONTEXT,
    )
    assert iso_millis(moment) == text
    columns = "email,created_at,updated_at,last_login"
    rows = list(
        csv.DictReader(io.StringIO(b"".join(export_users(tenant, columns=columns)).decode()))
    )
    assert [rows[0][name] for name in ("created_at", "updated_at", "last_login")] == [text] * 3
    ndjson = b"".join(export_users(tenant, columns=columns, fmt="ndjson", gzip=True))
    record = json.loads(gzip.decompress(ndjson))
    assert [record[name] for name in ("created_at", "updated_at", "last_login")] == [text] * 3


def test_a_tenant_schema_refusal_gets_the_keywords_code(tenant: Tenant) -> None:
    tenant.user_metadata_schema = {
        "type": "object",
        "properties": {"age": {"type": "integer"}, "plan": {"enum": ["free", "pro"]}},
    }
    services.tenant_update(tenant=tenant, changed=["user_metadata_schema"], by=FACTORY_CONTEXT)
    failures: list[Any] = []
    batches.import_users(
        tenant,
        [
            {"email": "a@x.test", "user_metadata": {"age": "old"}},
            {"email": "b@x.test", "user_metadata": {"plan": "gold"}},
        ],
        checkpoint=lambda report, position, chunk: failures.extend(chunk),
    )
    assert [f["auth0_codes"] for f in failures] == [["INVALID_TYPE"], ["ENUM_MISMATCH"]]
    assert [f["errors"][0]["path"] for f in failures] == ["user_metadata.age", "user_metadata.plan"]


def test_codes_redaction_and_records_from_before() -> None:
    assert redacted({"email": "a@x.test", "password": "pw", "custom_password_hash": {}}) == {
        "email": "a@x.test",
        "password": REDACTED,
        "custom_password_hash": REDACTED,
    }
    assert redacted(BadRow("Line 2 has 1 cells")) is None and redacted(5) == 5
    bad_row = BadRow("Line 2: email_verified is true or false")
    assert auth0_code(services.ServiceError(bad_row.message), bad_row) == "FORMAT"
    too_long = metadata.InvalidBodyError("too long", path=("name",))
    assert auth0_code(too_long, {"email": "a@x.test", "name": "n" * 301}) == "MAX_LENGTH"
    missing = services.ServiceError("The connection 'nope' does not exist in this tenant.")
    assert auth0_code(missing, {"email": "a@x.test", "connection": "nope"}) == (
        "CONNECTION_NOT_FOUND"
    )
    # A refused-rows file written before echoes and Auth0's codes: still Auth0's shape.
    old = {
        "row": 3,
        "user": "a@x.test",
        "errors": [{"code": "user_exists", "message": "m", "path": ""}],
    }
    assert auth0_failure(old) == {
        "user": {"email": "a@x.test"},
        "errors": [{"code": "CONFLICT", "message": "m", "path": "", "errorCode": "user_exists"}],
    }
