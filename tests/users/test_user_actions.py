"""Block, unblock and delete from the console."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.helpers import events
from users.models import User

pytestmark = pytest.mark.django_db


def url(user: User, action: str) -> str:
    return reverse(f"users:user_{action}", args=[user.tenant.slug, user.user_id])


def test_admin_blocks_and_unblocks(client: Client, admin_staff: StaffAccount, user: User) -> None:
    client.force_login(admin_staff)
    assert (
        client.post(url(user, "block"), {"blocked": "true", "version": user.version}).status_code
        == 302
    )
    user.refresh_from_db()
    assert user.blocked
    client.post(url(user, "block"), {"blocked": "false", "version": user.version})
    user.refresh_from_db()
    assert not user.blocked
    assert [e.action for e in events(user.tenant)][-2:] == ["user.block", "user.unblock"]
    assert events(user.tenant)[-1].channel == "console"


def test_a_stale_block_is_refused(client: Client, admin_staff: StaffAccount, user: User) -> None:
    client.force_login(admin_staff)
    client.post(url(user, "block"), {"blocked": "true", "version": 99})
    user.refresh_from_db()
    assert not user.blocked


def test_delete_needs_the_typed_confirmation(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    client.force_login(admin_staff)
    response = client.post(url(user, "delete"), {"confirm": "nope"})
    assert response.status_code == 302
    assert User.objects.filter(pk=user.pk).exists()
    page = client.get(response["Location"]).content.decode()
    assert f"type the user_id {user.user_id} to confirm" in page
    response = client.post(url(user, "delete"), {"confirm": user.user_id, "version": user.version})
    assert response["Location"] == reverse("users:user_list", args=[user.tenant.slug])
    assert not User.objects.filter(pk=user.pk).exists()
    assert events(user.tenant)[-1].action == "user.delete"


def test_htmx_delete_redirects_the_client(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    client.force_login(admin_staff)
    response = client.post(
        url(user, "delete"), {"confirm": user.user_id}, headers={"HX-Request": "true"}
    )
    assert response["HX-Redirect"] == reverse("users:user_list", args=[user.tenant.slug])


@pytest.mark.parametrize(
    ("persona", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)]
)
@pytest.mark.parametrize("action", ["block", "delete"])
def test_only_admins(
    client: Client,
    request: pytest.FixtureRequest,
    user: User,
    persona: str,
    status: int,
    action: str,
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.post(url(user, action), {"confirm": user.user_id}).status_code == status
    user.refresh_from_db()
    assert not user.blocked


def test_get_is_not_allowed(client: Client, admin_staff: StaffAccount, user: User) -> None:
    client.force_login(admin_staff)
    assert client.get(url(user, "block")).status_code == 405
    assert client.get(url(user, "delete")).status_code == 405
