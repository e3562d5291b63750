"""The user page (read-only so far)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.factories import TenantFactory, UserFactory
from users.models import Tenant, User

pytestmark = pytest.mark.django_db


def _url(user: User) -> str:
    return reverse("users:user_detail", args=[user.tenant.slug, user.user_id])


def test_viewer_sees_profile_identities_and_both_tiers(
    client: Client, viewer: StaffAccount, user: User
) -> None:
    client.force_login(viewer)
    response = client.get(_url(user))
    assert response.status_code == 200
    page = response.content.decode()
    assert user.user_id in page and "ada@example.com" in page
    assert "Username-Password-Authentication" in page
    assert "&quot;hobby&quot;: &quot;surfing&quot;" in page
    assert "&quot;roles&quot;" in page
    assert "of 16384 bytes" in page
    assert "Raw JSON" in page


def test_access_looking_keys_in_user_metadata_are_flagged(
    client: Client, viewer: StaffAccount, tenant: Tenant
) -> None:
    risky = UserFactory.create(tenant=tenant, user_metadata={"roles": ["admin"]})
    client.force_login(viewer)
    assert "looks like access control" in client.get(_url(risky)).content.decode()


def test_users_of_other_tenants_are_404(
    client: Client, viewer: StaffAccount, tenant: Tenant
) -> None:
    other = UserFactory.create(tenant=TenantFactory.create(slug="other"))
    client.force_login(viewer)
    assert (
        client.get(reverse("users:user_detail", args=[tenant.slug, other.user_id])).status_code
        == 404
    )
    assert client.get(_url(other)).status_code == 404  # not a member of "other"


def test_outsider_and_anonymous(client: Client, outsider: StaffAccount, user: User) -> None:
    assert client.get(_url(user)).status_code == 302
    client.force_login(outsider)
    assert client.get(_url(user)).status_code == 404


def test_a_user_id_with_nul_is_404_not_a_database_error(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    assert client.get(f"/t/{tenant.slug}/users/auth0%7Ca%00b/").status_code == 404
