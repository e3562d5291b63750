"""Bad input gets a clear error, never a 500, and never poisons other work: ids that cannot
be addressed, values that overflow on conversion, documents and queries too deep or too long,
on every path (API, console, imports, search)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.api.conftest import Api, make_api
from tests.factories import UserFactory
from users import batches
from users.imports import ImportFileError, read_rows
from users.models import Tenant, User

pytestmark = pytest.mark.django_db

OVERFLOWING_TIME = "9999-12-31T23:59:59-23:59"  # year 10000 in UTC
DEEP = "[" * 2000 + "]" * 2000
PARSEABLE_BUT_DEEP = "[" * 900 + "]" * 900  # parses; the metadata rules refuse it
HUGE_INT = "9" * 5000
DB = "Username-Password-Authentication"


@pytest.fixture
def api(tenant: Tenant) -> Api:
    return make_api(tenant)


def error_of(response: Any) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body["errorCode"]


# --- ids that cannot be addressed are refused at the door ------------------------------


@pytest.mark.parametrize("user_id", ["a/b", "auth0|../x", "..", "auth0|x\\y", "a\x07b"])
def test_the_api_refuses_a_user_id_that_cannot_be_addressed(
    api: Api, tenant: Tenant, user_id: str
) -> None:
    response = api.call(
        "POST", "/users", {"email": "a@x.test", "user_id": user_id, "connection": DB}
    )
    assert error_of(response) == (400, "invalid_body")
    assert "user_id" in response.json()["message"]
    assert not User.objects.filter(tenant=tenant).exists()


def test_an_import_refuses_that_row_alone(tenant: Tenant) -> None:
    rows = [{"email": "a@x.test", "user_id": "x/y"}, {"email": "b@x.test"}]
    report = batches.import_users(tenant, rows)
    assert (report.inserted, report.failed) == (1, 1)
    assert "user_id" in report.failures[0]["errors"][0]["message"]


def test_the_users_page_lists_every_stored_user(client: Client, owner: StaffAccount) -> None:
    tenant = Tenant.objects.get(slug="acme")
    UserFactory.create(tenant=tenant, email="ok@x.test", user_id="auth0|a?b#c%d")
    client.force_login(owner)
    page = client.get(reverse("users:user_list", args=[tenant.slug]))
    assert page.status_code == 200
    user = User.objects.get(email="ok@x.test")
    detail = client.get(reverse("users:user_detail", args=[tenant.slug, user.user_id]))
    assert detail.status_code == 200


# --- values that overflow on conversion -----------------------------------------------


def test_a_time_that_overflows_in_utc_is_stored_as_a_string_everywhere(
    api: Api, tenant: Tenant, client: Client, owner: StaffAccount
) -> None:
    created = api.call(
        "POST",
        "/users",
        {"email": "t@x.test", "connection": DB, "user_metadata": {"when": OVERFLOWING_TIME}},
    )
    assert created.status_code == 201, created.content
    user_id = created.json()["user_id"]
    patched = api.call("PATCH", f"/users/{user_id}", {"user_metadata": {"again": OVERFLOWING_TIME}})
    assert patched.status_code == 200, patched.content
    found = api.get("/users", q=f'user_metadata.when:"{OVERFLOWING_TIME}"')
    assert found.status_code == 200 and [u["user_id"] for u in found.json()] == [user_id]

    user = User.objects.get(user_id=user_id)
    client.force_login(owner)
    saved = client.post(
        reverse("users:metadata_edit", args=[tenant.slug, user.user_id, "user_metadata"]),
        {"document": json.dumps({"third": OVERFLOWING_TIME}), "version": user.version},
    )
    assert saved.status_code == 302
    user.refresh_from_db()
    assert user.user_metadata == {"third": OVERFLOWING_TIME}


def test_an_import_row_with_an_overflowing_time_is_imported(tenant: Tenant) -> None:
    rows = [{"email": f"u{i}@x.test", "user_metadata": {"t": OVERFLOWING_TIME}} for i in range(3)]
    report = batches.import_users(tenant, rows)
    assert (report.inserted, report.failed) == (3, 0)


@pytest.mark.parametrize(
    "q",
    [
        "user_metadata.x:1e999",
        "user_metadata.x:[1 TO 1e999]",
        "user_metadata.x:>1e999",
        f'created_at:"{OVERFLOWING_TIME}"',
        "created_at:[2020-01-01 TO 9999-12-31T23:59:59]",
        "created_at:9999-12-31T23:59:59",
        "logins_count:>1e999",
    ],
)
def test_overflowing_query_values_are_a_clear_400(api: Api, user: User, q: str) -> None:
    response = api.get("/users", q=q)
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["errorCode"] == "invalid_query_string"


# --- depth and size -------------------------------------------------------------------


@pytest.mark.parametrize("prefix", ["-", "NOT ", "+", "("])
def test_a_query_nested_a_thousand_deep_is_a_clear_400(api: Api, user: User, prefix: str) -> None:
    q = prefix * 1000 + "email:x" + (")" * 1000 if prefix == "(" else "")
    response = api.get("/users", q=q)
    assert error_of(response) == (400, "invalid_query_string")


def test_the_console_search_refuses_a_deep_query_inline(
    client: Client, owner: StaffAccount
) -> None:
    client.force_login(owner)
    page = client.get(reverse("users:user_list", args=["acme"]), {"q": "NOT " * 500 + "x"})
    assert page.status_code == 200
    assert "deep" in page.content.decode() or "long" in page.content.decode()


@pytest.mark.parametrize(
    ("text", "words"), [(DEEP, "deep"), (HUGE_INT, "digits"), (PARSEABLE_BUT_DEEP, "deep")]
)
def test_the_console_editor_refuses_deep_or_huge_json_on_the_form(
    client: Client, owner: StaffAccount, user: User, text: str, words: str
) -> None:
    client.force_login(owner)
    before = (user.version, user.user_metadata)
    document = '{"a": ' + text + "}"
    response = client.post(
        reverse("users:metadata_edit", args=["acme", user.user_id, "user_metadata"]),
        {"document": document, "version": user.version},
    )
    assert response.status_code == 200
    assert words in response.content.decode()
    user.refresh_from_db()
    assert (user.version, user.user_metadata) == before


@pytest.mark.parametrize(
    ("text", "words"), [(DEEP, "deep"), (HUGE_INT, "digits"), (PARSEABLE_BUT_DEEP, "deep")]
)
def test_the_api_refuses_deep_or_huge_json(api: Api, user: User, text: str, words: str) -> None:
    raw = ('{"user_metadata": {"a": ' + text + "}}").encode()
    response = api.call("PATCH", f"/users/{user.user_id}", raw=raw)
    assert error_of(response) == (400, "invalid_body")
    assert words in response.json()["message"]


@pytest.mark.parametrize(("text", "words"), [(DEEP, "deep"), (HUGE_INT, "digits")])
def test_an_import_file_with_deep_or_huge_json_is_refused_whole(text: str, words: str) -> None:
    data = ('[{"email": "a@x.test", "user_metadata": {"a": ' + text + "}}]").encode()
    with pytest.raises(ImportFileError, match=words):
        read_rows(data, "json")


def test_a_csv_cell_with_deep_or_huge_json_fails_that_row(tenant: Tenant) -> None:
    csv = f"email,user_metadata.a\na@x.test,{DEEP}\nb@x.test,{HUGE_INT}\nc@x.test,3\n"
    report = batches.import_users(tenant, read_rows(csv.encode(), "csv"))
    assert (report.inserted, report.failed) == (1, 2)
    messages = [f["errors"][0]["message"] for f in report.failures]
    assert "deep" in messages[0] and "digits" in messages[1]


def test_a_bulk_edit_value_with_deep_json_is_a_form_error(
    client: Client, owner: StaffAccount, user: User
) -> None:
    client.force_login(owner)
    response = client.post(
        reverse("users:bulk_edit", args=["acme"]),
        {"q": "", "tier": "user_metadata", "key": "k", "action": "set", "value": DEEP},
    )
    assert response.status_code == 200 and "deep" in response.content.decode()


def test_the_tenant_switcher_ignores_a_nul(client: Client, owner: StaffAccount) -> None:
    client.force_login(owner)
    response = client.get(reverse("users:tenant_switch"), {"tenant": "acme\x00"})
    assert response.status_code == 302 and response["Location"] == reverse("users:home")


@pytest.mark.parametrize("before", ["9" * 30, "\u00b2", "12\x00"])
def test_the_audit_log_ignores_a_page_marker_that_is_no_sequence_number(
    client: Client, owner: StaffAccount, before: str
) -> None:
    client.force_login(owner)
    response = client.get(reverse("users:audit_log", args=["acme"]), {"before": before})
    assert response.status_code == 200
