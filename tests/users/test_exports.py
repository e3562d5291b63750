"""Exports: columns, formats, formula protection, gzip, the query and its plan gate."""

from __future__ import annotations

import csv
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests.factories import FACTORY_CONTEXT, UserFactory
from users import services
from users.exports import DEFAULT_FIELDS, ExportError, export_users
from users.models import Job, Tenant
from users.search import PlanRequired, QuerySyntaxError

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(tenant: Tenant) -> None:
    UserFactory.create(
        tenant=tenant,
        email="ada@acme.test",
        name="=cmd|' /C calc'!A0",
        given_name="Ada",
        user_metadata={"plan": "pro", "consent": {"given": True}, "tags": ["a", "b"]},
        app_metadata={"roles": ["admin"]},
    )
    UserFactory.create(
        tenant=tenant, email="grace@globex.test", name="Grace", user_metadata={"plan": "free"}
    )


def as_text(tenant: Tenant, **options: object) -> str:
    return b"".join(export_users(tenant, **options)).decode()  # type: ignore[arg-type]


def test_default_csv_columns(tenant: Tenant, people: None) -> None:
    rows = list(csv.reader(io.StringIO(as_text(tenant))))
    assert rows[0] == list(DEFAULT_FIELDS)
    assert len(rows) == 3
    ada = dict(zip(rows[0], rows[1], strict=True))
    assert (
        ada["email"] == "ada@acme.test" and ada["connection"] == "Username-Password-Authentication"
    )
    assert ada["email_verified"] == "false"
    assert ada["created_at"].endswith("Z")


def test_chosen_columns_metadata_leaves_and_names(tenant: Tenant, people: None) -> None:
    text = as_text(
        tenant,
        columns="email,user_metadata.plan:Plan,user_metadata.consent.given,user_metadata.tags,app_metadata",
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "email",
        "Plan",
        "user_metadata.consent.given",
        "user_metadata.tags",
        "app_metadata",
    ]
    assert rows[1] == ["ada@acme.test", "pro", "true", '["a", "b"]', '{"roles": ["admin"]}']
    assert rows[2] == ["grace@globex.test", "free", "", "", "{}"]


def test_formula_injection_is_neutralized(tenant: Tenant, people: None) -> None:
    rows = list(csv.reader(io.StringIO(as_text(tenant, columns="name"))))
    assert rows[1] == ["'=cmd|' /C calc'!A0"]


def test_ndjson_takes_whole_objects(tenant: Tenant, people: None) -> None:
    lines = as_text(tenant, columns="email,user_metadata", fmt="ndjson").splitlines()
    assert json.loads(lines[0]) == {
        "email": "ada@acme.test",
        "user_metadata": {"plan": "pro", "consent": {"given": True}, "tags": ["a", "b"]},
    }
    assert len(lines) == 2


def test_gzip(tenant: Tenant, people: None) -> None:
    data = b"".join(export_users(tenant, columns="email", gzip=True))
    assert gzip.decompress(data).decode().splitlines() == [
        "email",
        "ada@acme.test",
        "grace@globex.test",
    ]


def test_the_query_filters(tenant: Tenant, people: None) -> None:
    assert as_text(tenant, q="user_metadata.plan:pro", columns="email").splitlines() == [
        "email",
        "ada@acme.test",
    ]


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"columns": "email,shoe_size"}, ExportError, "Unknown column 'shoe_size'"),
        ({"columns": "user_metadata..x"}, ExportError, "not a valid metadata path"),
        ({"columns": "email,name:email"}, ExportError, "both be called 'email'"),
        ({"fmt": "xlsx"}, ExportError, "Format 'xlsx' is not supported"),
        ({"q": "name:(x"}, QuerySyntaxError, "Syntax error"),
        ({"q": "app_metadata.roles:admin"}, PlanRequired, "Essentials plan"),
    ],
)
def test_bad_exports_are_refused_before_the_first_byte(
    tenant: Tenant, options: dict[str, str], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        export_users(tenant, **options)  # type: ignore[arg-type]


def test_a_paid_tenant_may_filter_exports_on_app_metadata(tenant: Tenant, people: None) -> None:
    services.tenant_set_plan(tenant=tenant, plan="essentials", by=FACTORY_CONTEXT)
    assert as_text(tenant, q="app_metadata.roles:admin", columns="email").splitlines() == [
        "email",
        "ada@acme.test",
    ]


def test_cli_writes_a_file(tenant: Tenant, people: None, tmp_path: Path) -> None:
    out = tmp_path / "users.ndjson"
    call_command(
        "export_users", "acme", "--format", "ndjson", "--fields", "email", "--output", str(out)
    )
    assert [json.loads(line)["email"] for line in out.read_text().splitlines()] == [
        "ada@acme.test",
        "grace@globex.test",
    ]
    with pytest.raises(CommandError, match="Unknown column"):
        call_command("export_users", "acme", "--fields", "nope")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("export_users", "nope")


def test_console_download_for_admins(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, people: None
) -> None:
    client.force_login(admin_staff)
    url = reverse("users:user_export", args=[tenant.slug])
    response = client.get(url, {"q": "user_metadata.plan:pro", "format": "csv"})
    assert response["Content-Disposition"] == 'attachment; filename="users-acme.csv"'
    body = b"".join(response.streaming_content).decode()  # type: ignore[attr-defined]
    assert "ada@acme.test" in body and "grace@globex.test" not in body
    listing = client.get(
        reverse("users:user_list", args=[tenant.slug]), {"q": "user_metadata.plan:pro"}
    ).content.decode()
    assert "Export these results" in listing


def test_console_export_refusal_is_explained(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    response = client.get(
        reverse("users:user_export", args=[tenant.slug]),
        {"q": "app_metadata.plan:pro", "format": "csv"},
        follow=True,
    )
    assert (
        "Export refused: Searching on app_metadata needs the Essentials plan"
        in response.content.decode()
    )


@pytest.mark.parametrize(
    ("persona", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)]
)
def test_console_export_needs_admin(
    client: Client, request: pytest.FixtureRequest, tenant: Tenant, persona: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(reverse("users:user_export", args=[tenant.slug])).status_code == status


def export_page(client: Client, tenant: Tenant, **data: object) -> Any:
    url = reverse("users:user_export", args=[tenant.slug])
    return client.post(url, {"preset": "default", "format": "csv", **data})


def test_the_export_page_offers_presets_and_the_keys_in_use(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, people: None
) -> None:
    client.force_login(admin_staff)
    page = client.get(
        reverse("users:user_export", args=[tenant.slug]), {"q": "user_metadata.plan:pro"}
    ).content.decode()
    assert 'value="user_metadata.plan:pro"' in page and "Auth0&#x27;s default columns" in page
    for key in ("user_metadata.plan", "user_metadata.consent", "app_metadata.roles"):
        assert f'value="{key}"' in page
    response = export_page(
        client,
        tenant,
        q="user_metadata.plan:pro",
        preset="emails",
        keys=["user_metadata.consent", "app_metadata.roles"],
        extra="user_metadata.consent.given:Consent",
    )
    body = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    assert rows[0] == ["user_id", "email", "user_metadata.consent", "app_metadata.roles", "Consent"]
    assert rows[1][1] == "ada@acme.test" and rows[1][4] == "true"
    assert (json.loads(rows[1][2]), json.loads(rows[1][3])) == ({"given": True}, ["admin"])
    assert len(rows) == 2


def test_a_large_export_runs_as_a_job(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    people: None,
    jobs_run_now: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("users.views.export.STREAM_LIMIT", 1)
    client.force_login(admin_staff)
    response = export_page(client, tenant, preset="everything", format="ndjson", gzip="on")
    job = Job.objects.get()
    assert response["Location"] == reverse("users:job_detail", args=[tenant.slug, job.pk])
    assert (job.status, job.total, job.params["fmt"], job.params["gzip"]) == (
        "succeeded",
        2,
        "ndjson",
        True,
    )
    lines = gzip.decompress((jobs_run_now / job.file_name).read_bytes()).splitlines()
    assert {json.loads(line)["email"] for line in lines} == {"ada@acme.test", "grace@globex.test"}
    assert json.loads(lines[0])["app_metadata"] == {"roles": ["admin"]}
    # Small, but asked for in the background.
    monkeypatch.setattr("users.views.export.STREAM_LIMIT", 10)
    export_page(client, tenant, background="on")
    assert Job.objects.count() == 2


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"extra": "shoe_size"}, "Unknown column &#x27;shoe_size&#x27;"),
        ({"extra": "email:user_id"}, "Two columns would both be called &#x27;user_id&#x27;"),
        ({"q": "app_metadata.roles:admin"}, "needs the Essentials plan"),
        ({"q": "name:(x"}, "Syntax error"),
        ({"format": "xlsx"}, "Select a valid choice"),
    ],
)
def test_bad_export_choices_are_refused_on_the_page(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    people: None,
    jobs_wait: Path,
    data: dict[str, str],
    message: str,
) -> None:
    client.force_login(admin_staff)
    response = export_page(client, tenant, **data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not Job.objects.exists()
