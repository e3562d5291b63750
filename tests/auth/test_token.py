"""POST /oauth/token with Auth0's password grants: tokens, every refusal in OAuth's shape, the
sign-in bookkeeping, bcrypt hashes upgraded; and auth0-python signing in and verifying the ID
token against our JWKS, as an application would."""

from __future__ import annotations

from typing import Any

import bcrypt
import pytest
from django.contrib.auth.hashers import identify_hasher
from django.test import Client

from tests.factories import FACTORY_CONTEXT
from users import batches, services
from users.auth import keys
from users.auth.token import PASSWORD_REALM
from users.models import Application, Tenant, User

pytestmark = pytest.mark.django_db

DB = "Username-Password-Authentication"
PASSWORD = "Correct-horse-9"


@pytest.fixture
def app(tenant: Tenant) -> tuple[Application, str]:
    application, secret = services.application_create(
        tenant=tenant, name="server", by=FACTORY_CONTEXT, grant_types=[PASSWORD_REALM]
    )
    assert secret is not None
    return application, secret


@pytest.fixture
def ada(tenant: Tenant) -> User:
    return services.user_create(
        tenant=tenant,
        body={
            "connection": DB,
            "email": "ada@x.test",
            "password": PASSWORD,
            "given_name": "Ada",
            "user_metadata": {"color": "blue"},
        },
        by=FACTORY_CONTEXT,
    )


def token(client: Client, tenant: Tenant, *, json: bool = False, **params: Any) -> Any:
    url = f"/tenants/{tenant.slug}/oauth/token"
    if json:
        return client.post(url, params, content_type="application/json")
    return client.post(url, {k: v for k, v in params.items() if v is not None})


def grant(app: tuple[Application, str], **extra: Any) -> dict[str, Any]:
    application, secret = app
    return {
        "grant_type": PASSWORD_REALM,
        "client_id": application.client_id,
        "client_secret": secret,
        "username": "ada@x.test",
        "password": PASSWORD,
        "realm": DB,
        "scope": "openid profile email",
        **extra,
    }


@pytest.mark.parametrize("as_json", [False, True])
def test_a_password_realm_sign_in_gets_signed_tokens(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User, as_json: bool
) -> None:
    extra = {"nonce": "n-1", "audience": None} if as_json else {"nonce": "n-1"}
    response = token(client, tenant, json=as_json, **grant(app, **extra))
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["scope"] == "openid profile email"
    iss = f"https://testserver/tenants/{tenant.slug}/"
    claims = keys.verify(tenant, body["id_token"], issuer=iss, audience=app[0].client_id)
    assert claims["sub"] == ada.user_id and claims["nonce"] == "n-1"
    assert claims["email"] == "ada@x.test" and claims["given_name"] == "Ada"
    assert claims["exp"] - claims["iat"] == app[0].id_token_lifetime and "sid" in claims
    access = keys.verify(tenant, body["access_token"], issuer=iss, audience=f"{iss}api/v2/")
    assert access["sub"] == ada.user_id and access["azp"] == app[0].client_id


def test_sign_in_bookkeeping(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    before = ada.version
    token(client, tenant, **grant(app))
    response = client.post(
        f"/tenants/{tenant.slug}/oauth/token",
        grant(app),
        HTTP_AUTH0_FORWARDED_FOR="203.0.113.7",
    )
    assert response.status_code == 200
    ada.refresh_from_db()
    assert ada.logins_count == 2 and ada.last_login is not None
    assert ada.last_ip == "203.0.113.7" and ada.version == before  # bookkeeping, not an edit


@pytest.mark.parametrize(
    ("changes", "status", "error"),
    [
        ({"password": "wrong-Password-1"}, 403, "invalid_grant"),
        ({"username": "nobody@x.test"}, 403, "invalid_grant"),
        ({"grant_type": "client_credentials"}, 400, "unsupported_grant_type"),
        ({"grant_type": None}, 400, "invalid_request"),
        ({"password": None}, 400, "invalid_request"),
        ({"realm": None}, 400, "invalid_request"),
        ({"client_secret": "wrong"}, 401, "invalid_client"),
        ({"client_id": "nope"}, 401, "invalid_client"),
        ({"realm": "nope"}, 400, "invalid_request"),
    ],
)
def test_refusals_in_oauths_shape(
    client: Client,
    tenant: Tenant,
    app: tuple[Application, str],
    ada: User,
    changes: dict[str, Any],
    status: int,
    error: str,
) -> None:
    response = token(client, tenant, **grant(app, **changes))
    body = response.json()
    assert (response.status_code, body["error"]) == (status, error)
    assert body["error_description"]
    if error == "invalid_grant":
        assert body["error_description"] == "Wrong email or password."
    ada.refresh_from_db()
    assert ada.logins_count == 0


def test_a_grant_the_application_may_not_use(client: Client, tenant: Tenant, ada: User) -> None:
    application, secret = services.application_create(
        tenant=tenant,
        name="spa",
        by=FACTORY_CONTEXT,  # password grants are off by default
    )
    response = token(client, tenant, **grant((application, secret or "")))
    assert response.status_code == 403 and response.json()["error"] == "unauthorized_client"


def test_a_blocked_user_is_refused(
    client: Client, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    services.user_set_blocked(user=ada, blocked=True, by=FACTORY_CONTEXT)
    response = token(client, tenant, **grant(app))
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_an_imported_bcrypt_hash_signs_in_and_is_upgraded(
    client: Client, tenant: Tenant, app: tuple[Application, str]
) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    batches.import_users(tenant, [{"email": "ada@x.test", "password_hash": hashed}])
    assert token(client, tenant, **grant(app)).status_code == 200
    stored = User.objects.get(email="ada@x.test").password
    assert identify_hasher(stored).algorithm != "bcrypt"  # the preferred hasher's now
    assert token(client, tenant, **grant(app)).status_code == 200


def test_auth0_python_signs_in_and_verifies_the_id_token(
    live_server: Any, tenant: Tenant, app: tuple[Application, str], ada: User
) -> None:
    from auth0.authentication import GetToken
    from auth0.authentication.token_verifier import AsymmetricSignatureVerifier, TokenVerifier

    application, secret = app
    host = live_server.url.removeprefix("http://")
    domain = f"{host}/tenants/{tenant.slug}"
    tokens = GetToken(domain, application.client_id, client_secret=secret, protocol="http")
    answer = tokens.login(username="ada@x.test", password=PASSWORD, realm=DB, scope="openid email")
    verifier = TokenVerifier(
        signature_verifier=AsymmetricSignatureVerifier(
            f"{live_server.url}/tenants/{tenant.slug}/.well-known/jwks.json"
        ),
        issuer=f"https://{domain}/",
        audience=application.client_id,
    )
    claims = verifier.verify(answer["id_token"])
    assert claims["sub"] == ada.user_id and claims["email"] == "ada@x.test"
