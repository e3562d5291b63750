"""The login log in the console: the user page's "Sign-ins" section (every member) and the
tenant's Sign-ins page (admins and owners), filtered and paged newer/older."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.factories import UserFactory
from users import services
from users.models import SignIn, SignInOutcome, Tenant, User
from users.views import sign_ins as sign_ins_view

pytestmark = pytest.mark.django_db


def page_url(tenant: Tenant) -> str:
    return reverse("users:sign_ins", args=[tenant.slug])


def log(tenant: Tenant, user: User | None, outcome: SignInOutcome, **kw: str) -> SignIn:
    return services.sign_in_log(
        tenant=tenant,
        outcome=outcome,
        user=user,
        username=kw.get("username", user.email or "" if user else "someone@x.test"),
        ip=kw.get("ip", "198.51.100.7"),
        client_id=kw.get("client_id", "client-abc"),
        connection="Username-Password-Authentication",
    )


@pytest.fixture
def logged(tenant: Tenant, user: User) -> User:
    log(tenant, user, SignInOutcome.WRONG_PASSWORD)
    log(tenant, user, SignInOutcome.SUCCESS, ip="203.0.113.5")
    log(tenant, None, SignInOutcome.UNKNOWN_USER, username="ghost@x.test")
    return user


@pytest.mark.parametrize("persona", ["owner", "admin_staff", "editor", "viewer"])
def test_every_member_sees_the_users_sign_ins(
    request: pytest.FixtureRequest, client: Client, tenant: Tenant, logged: User, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    html = client.get(reverse("users:user_detail", args=[tenant.slug, logged.user_id])).content
    text = html.decode()
    assert 'id="sign-ins"' in text and "Wrong password" in text and "203.0.113.5" in text
    assert "client-abc" in text and "ghost@x.test" not in text  # only this user's
    assert ("All of this user's sign-ins" in text) == (persona in ("owner", "admin_staff"))


def test_the_user_page_shows_the_last_twenty(
    client: Client, viewer: StaffAccount, tenant: Tenant, user: User
) -> None:
    for index in range(25):
        log(tenant, user, SignInOutcome.SUCCESS, ip=f"10.0.0.{index}")
    client.force_login(viewer)
    text = client.get(
        reverse("users:user_detail", args=[tenant.slug, user.user_id])
    ).content.decode()
    assert text.count('<tr class="sign-in success">') == 20
    assert "10.0.0.24<" in text and "10.0.0.4<" not in text


@pytest.mark.parametrize("persona", ["owner", "admin_staff"])
def test_admins_see_the_tenants_sign_ins_and_the_link(
    request: pytest.FixtureRequest, client: Client, tenant: Tenant, logged: User, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    response = client.get(page_url(tenant))
    text = response.content.decode()
    assert response.status_code == 200
    assert "ghost@x.test" in text and "203.0.113.5" in text and "No such user" in text
    assert f'href="{page_url(tenant)}" aria-current="page">Sign-ins</a>' in text


@pytest.mark.parametrize("persona", ["editor", "viewer"])
def test_below_admin_is_forbidden_and_has_no_link(
    request: pytest.FixtureRequest, client: Client, tenant: Tenant, logged: User, persona: str
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(page_url(tenant)).status_code == 403
    dashboard = client.get(reverse("users:dashboard", args=[tenant.slug])).content.decode()
    assert page_url(tenant) not in dashboard


def test_outsiders_get_404(client: Client, outsider: StaffAccount, tenant: Tenant) -> None:
    client.force_login(outsider)
    assert client.get(page_url(tenant)).status_code == 404


def test_anonymous_is_sent_to_sign_in(client: Client, tenant: Tenant) -> None:
    response = client.get(page_url(tenant))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_filters(client: Client, admin_staff: StaffAccount, tenant: Tenant, logged: User) -> None:
    client.force_login(admin_staff)
    other = UserFactory.create(tenant=tenant, email="grace@x.test")
    log(tenant, other, SignInOutcome.SUCCESS, ip="192.0.2.99")
    old = log(tenant, other, SignInOutcome.BLOCKED, ip="192.0.2.98")
    SignIn.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=10))

    def shown(**query: str) -> str:
        response = client.get(page_url(tenant), query)
        assert response.status_code == 200
        return response.content.decode()

    text = shown(outcome="success")
    assert "203.0.113.5" in text and "192.0.2.99" in text and "ghost@x.test" not in text
    text = shown(user=logged.user_id)
    assert "203.0.113.5" in text and "192.0.2.99" not in text
    text = shown(user="GRACE@x.test")
    assert "192.0.2.99" in text and "203.0.113.5" not in text
    since = (timezone.now() - timedelta(days=2)).date().isoformat()
    text = shown(user="grace@x.test", since=since)
    assert "192.0.2.99" in text and "192.0.2.98" not in text
    until = (timezone.now() - timedelta(days=5)).date().isoformat()
    text = shown(until=until)
    assert "192.0.2.98" in text and "192.0.2.99" not in text
    assert "must be on or before" in shown(since=since, until=until)
    assert "No sign-ins match" in shown(outcome="nonsense")
    partial = client.get(page_url(tenant), {"outcome": "success"}, HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<section id="sign-ins-table"')


def test_paging_older_and_newer(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    user: User,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sign_ins_view, "PAGE_SIZE", 2)
    rows = [log(tenant, user, SignInOutcome.SUCCESS, ip=f"10.0.1.{i}") for i in range(5)]
    client.force_login(admin_staff)
    first = client.get(page_url(tenant)).context
    assert [row.pk for row in first["sign_ins"]] == [rows[4].pk, rows[3].pk]
    assert first["newer_query"] is None and first["older_query"] == f"before={rows[3].pk}"
    second = client.get(f"{page_url(tenant)}?{first['older_query']}").context
    assert [row.pk for row in second["sign_ins"]] == [rows[2].pk, rows[1].pk]
    assert second["newer_query"] == f"after={rows[2].pk}"
    last = client.get(f"{page_url(tenant)}?{second['older_query']}").context
    assert [row.pk for row in last["sign_ins"]] == [rows[0].pk] and last["older_query"] is None
    back = client.get(f"{page_url(tenant)}?{last['newer_query']}").context
    assert [row.pk for row in back["sign_ins"]] == [rows[2].pk, rows[1].pk]
    newest = client.get(f"{page_url(tenant)}?{back['newer_query']}").context
    assert [row.pk for row in newest["sign_ins"]] == [rows[4].pk, rows[3].pk]
    assert newest["newer_query"] is None
    assert client.get(page_url(tenant), {"before": "²"}).status_code == 200
