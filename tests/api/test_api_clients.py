"""API clients: created in the console (token shown once, stored as a hash), listed, revoked;
created from the command line; audited."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests.api.conftest import Api
from tests.helpers import events
from users.models import ApiClient, Tenant

pytestmark = pytest.mark.django_db


def url(tenant: Tenant) -> str:
    return reverse("users:api_clients", args=[tenant.slug])


def test_create_use_and_revoke_from_the_console(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    page = client.post(url(tenant), {"name": "billing", "scopes": ["read:users", "delete:users"]})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    text = page.content.decode()
    token = re.search(r'<pre class="token" id="new-token">([^<]+)</pre>', text).group(1)  # type: ignore[union-attr]
    assert "shown only this once" in text
    stored = ApiClient.objects.get(tenant=tenant, name="billing")
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(stored.__dict__) and stored.scopes == ["delete:users", "read:users"]
    assert token not in client.get(url(tenant)).content.decode()  # never shown again

    api = Api(Client(), token)
    assert api.get("/users").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    listing = client.get(url(tenant)).content.decode()
    assert "billing" in listing and stored.token_prefix in listing and "never" not in listing

    client.post(reverse("users:api_client_revoke", args=[tenant.slug, stored.pk]))
    assert api.get("/users").status_code == 401
    assert [e.action for e in events(tenant) if e.action.startswith("api_client.")] == [
        "api_client.create",
        "api_client.revoke",
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": "", "scopes": ["read:users"]}, "This field is required."),
        ({"name": "x"}, "This field is required."),
        ({"name": "x", "scopes": ["read:everything"]}, "Select a valid choice."),
    ],
)
def test_bad_forms(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, data: dict[str, Any], message: str
) -> None:
    client.force_login(admin_staff)
    response = client.post(url(tenant), data)
    assert response.status_code == 400 and message in response.content.decode()
    assert not ApiClient.objects.exists()


def test_names_are_unique_per_tenant(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    client.post(url(tenant), {"name": "app", "scopes": ["read:users"]})
    again = client.post(url(tenant), {"name": "app", "scopes": ["read:users"]})
    assert "already has an API client named" in again.content.decode()
    assert ApiClient.objects.count() == 1


@pytest.mark.parametrize(("persona", "status"), [("editor", 403), ("outsider", 404)])
def test_api_clients_need_admin(
    client: Client, request: pytest.FixtureRequest, tenant: Tenant, persona: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(url(tenant)).status_code == status
    assert client.post(url(tenant), {"name": "x", "scopes": ["read:users"]}).status_code == status
    assert not ApiClient.objects.exists()


def test_command_prints_the_token_last(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    call_command(
        "create_api_client", "acme", "--name", "cli", "--scopes", "read:users update:users"
    )
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("mda_")
    assert Api(Client(), token).get("/users").status_code == 200
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_client", "acme", "--name", "x", "--scopes", "read:all")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_api_client", "nope", "--name", "x", "--scopes", "read:users")
