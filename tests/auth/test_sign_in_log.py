"""The login log: POST /oauth/token writes one row for every outcome that names a username
(not for malformed requests), and `sign_ins_prune` forgets rows after LOGIN_LOG_DAYS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from tests.auth.sign_in_helpers import DB, WRONG, make_app, make_user, sign_in
from tests.factories import FACTORY_CONTEXT
from tests.helpers import events
from users import services
from users.models import Application, SignIn, Tenant, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(tenant: Tenant) -> tuple[Application, str]:
    return make_app(tenant)


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return make_user(tenant)


def only_row() -> SignIn:
    rows = list(SignIn.objects.all())
    assert len(rows) == 1, rows
    return rows[0]


def test_a_success_is_logged_with_ip_application_and_connection(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    assert sign_in(client, tenant, app, ip="203.0.113.9").status_code == 200
    row = only_row()
    assert (row.outcome, row.user, row.target_user_id) == ("success", ada, ada.user_id)
    assert (row.ip, row.client_id, row.connection) == ("203.0.113.9", app[0].client_id, DB)
    assert row.username == "ada@x.test" and row.tenant == tenant
    assert len(events(tenant, action="user.update")) == 0  # not the audit log


@pytest.mark.parametrize(
    ("params", "outcome", "names_user"),
    [
        ({"password": WRONG}, "wrong_password", True),
        ({"username": "nobody@x.test"}, "unknown_user", False),
        ({"client_secret": "wrong"}, "invalid_client", False),
        ({"client_id": "nope"}, "invalid_client", False),
        ({"audience": "https://elsewhere.test/"}, "access_denied", True),
    ],
)
def test_failures_are_logged(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    params: dict[str, Any],
    outcome: str,
    names_user: bool,
) -> None:
    assert sign_in(client, tenant, app, **params).status_code in (401, 403)
    row = only_row()
    assert row.outcome == outcome
    assert row.user == (ada if names_user else None)
    assert row.username == params.get("username", "ada@x.test")


def test_a_blocked_user_and_a_grant_not_allowed_are_logged(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    services.user_set_blocked(user=ada, blocked=True, by=FACTORY_CONTEXT)
    assert sign_in(client, tenant, app).status_code == 401
    spa = services.application_create(tenant=tenant, name="spa", by=FACTORY_CONTEXT)
    assert sign_in(client, tenant, (spa[0], spa[1] or "")).status_code == 403
    outcomes = list(SignIn.objects.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["blocked", "grant_not_allowed"]
    assert SignIn.objects.get(outcome="blocked").user == ada


@pytest.mark.parametrize(
    "params",
    [
        {"username": None},
        {"password": None},
        {"grant_type": "client_credentials"},
        {"realm": "nope"},
        {"grant_type": None},
    ],
)
def test_malformed_requests_are_not_logged(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    params: dict[str, Any],
) -> None:
    assert sign_in(client, tenant, app, **params).status_code == 400
    assert not SignIn.objects.exists()


def test_a_deleted_user_keeps_their_rows_without_the_link(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    sign_in(client, tenant, app)
    services.user_delete(user=ada, by=FACTORY_CONTEXT)
    row = only_row()
    assert row.user is None and row.target_user_id == ada.user_id


def test_prune_deletes_rows_older_than_the_retention(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    settings: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    settings.LOGIN_LOG_DAYS = 30
    sign_in(client, tenant, app)
    sign_in(client, tenant, app)
    old = SignIn.objects.order_by("id").first()
    assert old is not None
    SignIn.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    call_command("sign_ins_prune")
    assert "Deleted 1 sign-ins older than 30 days." in capsys.readouterr().out
    assert list(SignIn.objects.values_list("pk", flat=True)) != [old.pk]
    assert SignIn.objects.count() == 1
