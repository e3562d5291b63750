"""Dashboard and settings pages."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from users.models import Tenant, User

pytestmark = pytest.mark.django_db


def test_dashboard_shows_counts_chart_keys_and_recent_changes(
    client: Client, viewer: StaffAccount, user: User, tenant: Tenant
) -> None:
    client.force_login(viewer)
    page = client.get(reverse("users:dashboard", args=[tenant.slug])).content.decode()
    assert '<svg class="chart"' in page and "<rect" in page
    assert "Username-Password-Authentication" in page
    assert "<code>hobby</code>" in page and "<code>roles</code>" in page
    assert "user.create" in page
    assert '>1</span><span class="muted">users' in page.replace("\n", "")


def test_header_shows_the_signed_in_staff_member_on_a_user_page(
    client: Client, viewer: StaffAccount, user: User
) -> None:
    client.force_login(viewer)
    page = client.get(
        reverse("users:user_detail", args=[user.tenant.slug, user.user_id])
    ).content.decode()
    assert viewer.username in page and "Sign out" in page


def test_settings_show_plan_limits_and_staff(
    client: Client, viewer: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(viewer)
    page = client.get(reverse("users:tenant_settings", args=[tenant.slug])).content.decode()
    assert "16384 bytes" in page and "10 levels" in page
    assert "searching app_metadata needs Essentials" in page
    assert viewer.username in page


@pytest.mark.parametrize("name", ["dashboard", "tenant_settings"])
def test_outsider_and_anonymous(
    client: Client, outsider: StaffAccount, tenant: Tenant, name: str
) -> None:
    url = reverse(f"users:{name}", args=[tenant.slug])
    assert client.get(url).status_code == 302
    client.force_login(outsider)
    assert client.get(url).status_code == 404
