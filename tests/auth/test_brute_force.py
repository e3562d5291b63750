"""Brute-force protection at POST /oauth/token: after a connection's
`brute_force_max_attempts` (default 10) consecutive failures of one user from one IP, that
user is refused from that IP with 429 `too_many_attempts`, even with the right password and
before any hash, until BRUTE_FORCE_LOCK_MINUTES pass or staff unblock it (audited)."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.db import connections
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tests.auth.sign_in_helpers import WRONG, make_app, make_user, sign_in
from tests.factories import FACTORY_CONTEXT, TenantFactory
from tests.helpers import events, on_postgres
from users import services
from users.auth import token as token_module
from users.auth.token import TOO_MANY_ATTEMPTS
from users.models import Application, Connection, SignIn, SignInFailures, Tenant, User

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture
def app(tenant: Tenant) -> tuple[Application, str]:
    return make_app(tenant)


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return make_user(tenant)


@pytest.fixture
def limit(tenant: Tenant) -> int:
    """The database connection locks after LIMIT failures (a small number keeps tests quick)."""
    connection = Connection.objects.get(tenant=tenant, name="Username-Password-Authentication")
    connection.options = {**connection.options, "brute_force_max_attempts": LIMIT}
    connection.save()
    return LIMIT


def fail(
    client: Client, tenant: Tenant, app: tuple[Application, str], times: int, **kw: Any
) -> None:
    for _ in range(times):
        assert sign_in(client, tenant, app, password=WRONG, **kw).status_code == 403


def assert_locked(response: Any) -> None:
    assert response.status_code == 429, response.content
    assert response.json() == {"error": "too_many_attempts", "error_description": TOO_MANY_ATTEMPTS}


def test_the_default_is_ten_failures(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    fail(client, tenant, app, 9)
    assert sign_in(client, tenant, app).status_code == 200  # the 10th is a success: reset
    fail(client, tenant, app, 10)
    assert_locked(sign_in(client, tenant, app))


def test_locked_even_with_the_right_password_and_only_from_that_ip(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, limit: int
) -> None:
    fail(client, tenant, app, limit)
    assert_locked(sign_in(client, tenant, app))
    assert_locked(sign_in(client, tenant, app, password=WRONG))
    assert sign_in(client, tenant, app, ip="198.51.100.2").status_code == 200
    ada.refresh_from_db()
    assert ada.logins_count == 1
    outcomes = list(SignIn.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["wrong_password"] * limit + ["too_many_attempts"] * 2 + ["success"]


def test_the_lock_is_checked_before_the_password_is_hashed(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    limit: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fail(client, tenant, app, limit)

    def no_hashing(*args: Any, **kwargs: Any) -> bool:
        raise AssertionError("hashed a locked-out attempt")

    monkeypatch.setattr(token_module, "check_password", no_hashing)
    monkeypatch.setattr(token_module, "make_password", no_hashing)
    assert_locked(sign_in(client, tenant, app))


def test_unknown_usernames_lock_the_same_way(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, limit: int
) -> None:
    fail(client, tenant, app, limit, username="nobody@x.test")
    assert_locked(sign_in(client, tenant, app, username="nobody@x.test"))
    assert sign_in(client, tenant, app).status_code == 200  # ada is another subject


def test_a_success_resets_the_count(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, limit: int
) -> None:
    fail(client, tenant, app, limit - 1)
    assert sign_in(client, tenant, app).status_code == 200
    fail(client, tenant, app, limit - 1)
    assert sign_in(client, tenant, app).status_code == 200


def test_the_lock_expires(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    limit: int,
    settings: Any,
) -> None:
    settings.BRUTE_FORCE_LOCK_MINUTES = 60
    fail(client, tenant, app, limit)
    assert_locked(sign_in(client, tenant, app))
    SignInFailures.objects.update(last_failure_at=timezone.now() - timedelta(minutes=59))
    assert_locked(sign_in(client, tenant, app))
    SignInFailures.objects.update(last_failure_at=timezone.now() - timedelta(minutes=61))
    fail(client, tenant, app, 1)  # counts from 1 again
    assert SignInFailures.objects.get().failures == 1
    assert sign_in(client, tenant, app).status_code == 200


def test_disabled_on_the_connection(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    connection = Connection.objects.get(tenant=tenant, name="Username-Password-Authentication")
    connection.options = {"brute_force_enabled": False, "brute_force_max_attempts": 1}
    connection.save()
    fail(client, tenant, app, 3)
    assert sign_in(client, tenant, app).status_code == 200
    assert not SignInFailures.objects.exists()


def test_staff_unblock_is_audited_and_lets_them_in(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    limit: int,
    admin_staff: StaffAccount,
) -> None:
    fail(client, tenant, app, limit)
    fail(client, tenant, app, limit, ip="2001:db8::1")
    assert [lock.ip for lock in services.user_sign_in_locks(ada)] == ["2001:db8::1", "198.51.100.1"]
    console = Client()
    console.force_login(admin_staff)
    page = console.get(
        reverse("users:user_detail", args=[tenant.slug, ada.user_id])
    ).content.decode()
    assert "Unblock sign-ins" in page and "2001:db8::1" in page and "198.51.100.1" in page
    url = reverse("users:user_unblock_sign_ins", args=[tenant.slug, ada.user_id])
    response = console.post(url)
    assert response.status_code == 302
    assert sign_in(client, tenant, app).status_code == 200
    assert sign_in(client, tenant, app, ip="2001:db8::1").status_code == 200
    (event,) = events(tenant, action="user.unblock_sign_ins")
    assert event.target_user_id == ada.user_id and event.actor_label == "admin@staff.test"
    assert event.forward_patch == [{"op": "remove", "path": "/sign_ins_blocked_from"}]
    blocked = {
        "op": "add",
        "path": "/sign_ins_blocked_from",
        "value": ["2001:db8::1", "198.51.100.1"],
    }
    assert event.inverse_patch == [blocked]
    page = console.get(
        reverse("users:user_detail", args=[tenant.slug, ada.user_id])
    ).content.decode()
    assert "Unblock sign-ins" not in page
    console.post(url)  # nothing locked: nothing recorded
    assert len(events(tenant, action="user.unblock_sign_ins")) == 1


@pytest.mark.parametrize("persona", ["editor", "viewer"])
def test_below_admin_may_not_unblock(
    request: pytest.FixtureRequest,
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    limit: int,
    persona: str,
) -> None:
    fail(client, tenant, app, limit)
    console = Client()
    console.force_login(request.getfixturevalue(persona))
    page = console.get(
        reverse("users:user_detail", args=[tenant.slug, ada.user_id])
    ).content.decode()
    assert "198.51.100.1" in page and "Unblock sign-ins" not in page
    url = reverse("users:user_unblock_sign_ins", args=[tenant.slug, ada.user_id])
    assert console.post(url).status_code == 403
    assert_locked(sign_in(client, tenant, app))


THREADS = 20


@on_postgres
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_failures_all_count() -> None:
    tenant = TenantFactory.create(slug="race")
    ada = make_user(tenant)
    connection = ada.connection
    subject = services.failure_subject(ada, "ada@x.test")
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def failed() -> None:
        try:
            start.wait(timeout=30)
            services.sign_in_failed(connection=connection, subject=subject, user=ada, ip="10.0.0.1")
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=failed) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    assert SignInFailures.objects.get().failures == THREADS
    services.user_delete(user=ada, by=FACTORY_CONTEXT)
