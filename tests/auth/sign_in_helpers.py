"""Shared by the login-log, brute-force and /userinfo tests: an application allowed the
password-realm grant, a user, and a sign-in from a given IP."""

from __future__ import annotations

from typing import Any

from django.test import Client
from django.test.client import Client as TestClient

from tests.factories import FACTORY_CONTEXT
from users import services
from users.auth.token import PASSWORD_REALM
from users.models import Application, Tenant, User

DB = "Username-Password-Authentication"
PASSWORD = "Correct-horse-9"
WRONG = "Wrong-horse-1"


def make_app(tenant: Tenant) -> tuple[Application, str]:
    application, secret = services.application_create(
        tenant=tenant, name="server", by=FACTORY_CONTEXT, grant_types=[PASSWORD_REALM]
    )
    assert secret is not None
    return application, secret


def make_user(tenant: Tenant, email: str = "ada@x.test", **profile: Any) -> User:
    body = {"connection": DB, "email": email, "password": PASSWORD, **profile}
    return services.user_create(tenant=tenant, body=body, by=FACTORY_CONTEXT)


def sign_in(
    client: Client | TestClient,
    tenant: Tenant,
    app: tuple[Application, str],
    *,
    ip: str = "198.51.100.1",
    **params: Any,
) -> Any:
    """POST /oauth/token from `ip` (the peer's address)."""
    application, secret = app
    body = {
        "grant_type": PASSWORD_REALM,
        "client_id": application.client_id,
        "client_secret": secret,
        "username": "ada@x.test",
        "password": PASSWORD,
        "realm": DB,
        "scope": "openid profile email",
        **params,
    }
    body = {key: value for key, value in body.items() if value is not None}
    return client.post(f"/tenants/{tenant.slug}/oauth/token", body, REMOTE_ADDR=ip)
