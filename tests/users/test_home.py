"""`/`: anonymous visitors sign in; staff see their tenants, nothing else."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client

from tests.factories import FACTORY_CONTEXT, STAFF_PASSWORD, TenantFactory
from users import services
from users.models import Membership, Tenant

pytestmark = pytest.mark.django_db


def test_anonymous_is_asked_to_sign_in(client: Client) -> None:
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


def test_sign_in_then_see_own_tenants_only(
    client: Client, editor: StaffAccount, tenant: Tenant
) -> None:
    other = TenantFactory.create(slug="hidden-corp")
    assert client.get("/accounts/login/").status_code == 200
    response = client.post(
        "/accounts/login/", {"username": editor.username, "password": STAFF_PASSWORD}
    )
    assert response.status_code == 302
    page = client.get("/").content.decode()
    assert "acme" in page
    assert "Editor" in page
    assert "Free" in page
    assert other.slug not in page


def test_wrong_password_is_refused_with_a_message(client: Client, editor: StaffAccount) -> None:
    response = client.post("/accounts/login/", {"username": editor.username, "password": "wrong"})
    assert response.status_code == 200
    assert "Please enter a correct" in response.content.decode()


def test_staff_without_tenants_gets_a_hint(client: Client, outsider: StaffAccount) -> None:
    client.force_login(outsider)
    assert "not a member of any tenant" in client.get("/").content.decode()
    assert not Membership.objects.filter(staff=outsider).exists()


def test_only_get_is_allowed(client: Client, viewer: StaffAccount) -> None:
    client.force_login(viewer)
    assert client.post("/").status_code == 405


def test_tenant_names_are_escaped(client: Client, viewer: StaffAccount, tenant: Tenant) -> None:
    tenant.name = "<script>alert(1)</script>"
    services.tenant_update(tenant=tenant, changed=["name"], by=FACTORY_CONTEXT)
    client.force_login(viewer)
    page = client.get("/").content.decode()
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;" in page


def test_repeated_failed_sign_ins_lock_the_account_out(
    client: Client, editor: StaffAccount
) -> None:
    for _ in range(5):
        client.post("/accounts/login/", {"username": editor.username, "password": "wrong"})
    locked = client.post(
        "/accounts/login/", {"username": editor.username, "password": STAFF_PASSWORD}
    )
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session


def test_tenant_switcher(client: Client, editor: StaffAccount, tenant: Tenant) -> None:
    other = TenantFactory.create(slug="second")
    Membership.objects.create(staff=editor, tenant=other, role="viewer")
    client.force_login(editor)
    page = client.get(f"/t/{tenant.slug}/users/").content.decode()
    assert 'id="switch-tenant"' in page and '<option value="second"' in page
    response = client.get("/switch/", {"tenant": "second"})
    assert response["Location"] == "/t/second/"
    hidden = TenantFactory.create(slug="not-mine")
    assert client.get("/switch/", {"tenant": hidden.slug})["Location"] == "/"
