"""GET and POST /userinfo: the claims of the access token's scopes, read from the user as they
are now; 401 with `WWW-Authenticate: Bearer error="invalid_token"` for anything else."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.test import Client

from tests.auth.sign_in_helpers import DB, PASSWORD, make_app, make_user, sign_in
from tests.factories import FACTORY_CONTEXT
from users import services
from users.auth import keys
from users.models import Application, Tenant, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def app(tenant: Tenant) -> tuple[Application, str]:
    return make_app(tenant)


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return make_user(tenant, given_name="Ada", family_name="Lovelace")


def access_token(client: Client, tenant: Tenant, app: tuple[Application, str], scope: str) -> str:
    response = sign_in(client, tenant, app, scope=scope)
    assert response.status_code == 200, response.content
    return str(response.json()["access_token"])


def userinfo(client: Client, tenant: Tenant, token: str | None, *, post: bool = False) -> Any:
    url = f"/tenants/{tenant.slug}/userinfo"
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return client.post(url, headers=headers) if post else client.get(url, headers=headers)


def assert_invalid_token(response: Any) -> None:
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert response.json()["error"] == "invalid_token"


@pytest.mark.parametrize("post", [False, True])
def test_claims_by_scope(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, post: bool
) -> None:
    only_openid = userinfo(client, tenant, access_token(client, tenant, app, "openid"), post=post)
    assert only_openid.status_code == 200 and only_openid.json() == {"sub": ada.user_id}
    email = userinfo(client, tenant, access_token(client, tenant, app, "openid email"), post=post)
    assert email.json() == {"sub": ada.user_id, "email": "ada@x.test", "email_verified": False}
    profile = userinfo(client, tenant, access_token(client, tenant, app, "openid profile"))
    body = profile.json()
    assert body["given_name"] == "Ada" and body["family_name"] == "Lovelace"
    assert {"name", "nickname", "picture", "updated_at"} <= set(body) and "email" not in body


def test_claims_are_the_users_as_they_are_now(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    token = access_token(client, tenant, app, "openid profile email")
    services.user_update(
        user=ada, body={"given_name": "Augusta", "email_verified": True}, by=FACTORY_CONTEXT
    )
    body = userinfo(client, tenant, token).json()
    assert body["given_name"] == "Augusta" and body["email_verified"] is True


def test_missing_and_malformed_tokens(client: Client, tenant: Tenant) -> None:
    assert_invalid_token(userinfo(client, tenant, None))
    assert_invalid_token(userinfo(client, tenant, "not-a-jwt"))
    response = client.get(f"/tenants/{tenant.slug}/userinfo", HTTP_AUTHORIZATION="Basic abc")
    assert_invalid_token(response)


def test_expired_or_foreign_tokens(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    iss = f"https://testserver/tenants/{tenant.slug}/"
    now = int(time.time())
    claims = {"iss": iss, "sub": ada.user_id, "aud": [f"{iss}userinfo"], "scope": "openid"}
    expired = keys.sign(tenant, {**claims, "iat": now - 7200, "exp": now - 3600})
    assert_invalid_token(userinfo(client, tenant, expired))
    wrong_audience = keys.sign(
        tenant, {**claims, "aud": f"{iss}api/v2/", "iat": now, "exp": now + 60}
    )
    assert_invalid_token(userinfo(client, tenant, wrong_audience))
    wrong_issuer = keys.sign(
        tenant, {**claims, "iss": "https://evil.test/", "iat": now, "exp": now + 60}
    )
    assert_invalid_token(userinfo(client, tenant, wrong_issuer))
    good = keys.sign(tenant, {**claims, "iat": now, "exp": now + 60})
    assert userinfo(client, tenant, good).status_code == 200
    id_token = sign_in(client, tenant, app).json()["id_token"]  # aud is the client_id
    assert_invalid_token(userinfo(client, tenant, id_token))


def test_another_tenants_token_is_refused(
    client: Client, tenant: Tenant, paid_tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    token = access_token(client, tenant, app, "openid")
    assert_invalid_token(userinfo(client, paid_tenant, token))


def test_a_blocked_or_deleted_user(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    token = access_token(client, tenant, app, "openid")
    blocked = services.user_set_blocked(user=ada, blocked=True, by=FACTORY_CONTEXT)
    assert_invalid_token(userinfo(client, tenant, token))
    services.user_delete(user=blocked, by=FACTORY_CONTEXT)
    assert_invalid_token(userinfo(client, tenant, token))


def test_unknown_tenant_is_a_json_404(client: Client) -> None:
    response = client.get("/tenants/nope/userinfo")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_auth0_python_reads_userinfo(
    live_server: Any, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    from auth0.authentication import GetToken, Users

    application, secret = app
    domain = f"{live_server.url.removeprefix('http://')}/tenants/{tenant.slug}"
    tokens = GetToken(domain, application.client_id, client_secret=secret, protocol="http").login(
        username="ada@x.test", password=PASSWORD, realm=DB, scope="openid email"
    )
    claims = Users(domain, protocol="http").userinfo(tokens["access_token"])
    assert claims == {"sub": ada.user_id, "email": "ada@x.test", "email_verified": False}
