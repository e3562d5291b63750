"""Auth0's official Node SDK (npm `auth0`, its AuthenticationClient) against a live server, no
mocks: `database.signUp` with user_metadata, `oauth.passwordGrant` with a realm and the SDK's
own ID-token validation (JWKS from https://<domain>/.well-known/jwks.json, iss exactly
https://<domain>/, aud, nonce, RS256), and its refusals (a wrong password is `invalid_grant`,
a taken email `invalid_signup`).

The SDK is the one tests/api/node pins (auth0 7.1.0, whose `auth0/legacy` entry point is the
node-auth0 v4 AuthenticationClient); `npm ci` installs it the first time, as in
tests/api/test_node_sdk.py. The script is tests/api/node/auth_check.mjs; it prints JSON that
this test asserts on."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.factories import FACTORY_CONTEXT
from users import services
from users.auth import keys
from users.auth.token import PASSWORD_REALM
from users.models import Tenant, User

pytestmark = pytest.mark.django_db(transaction=True)
DB = "Username-Password-Authentication"


def _run(node_dir: Path, env: dict[str, str]) -> dict[str, Any]:
    done = subprocess.run(
        ["node", "auth_check.mjs"],
        cwd=node_dir,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def test_the_node_authentication_client_end_to_end(
    node_sdk: Path, live_server: Any, tenant: Tenant
) -> None:
    application, secret = services.application_create(
        tenant=tenant, name="node-server", by=FACTORY_CONTEXT, grant_types=[PASSWORD_REALM]
    )
    assert secret is not None
    out = _run(
        node_sdk,
        {
            "BASE_URL": live_server.url,
            "TENANT": tenant.slug,
            "CLIENT_ID": application.client_id,
            "CLIENT_SECRET": secret,
        },
    )
    host = live_server.url.removeprefix("http://")
    domain = f"{host}/tenants/{tenant.slug}"
    assert out["domain"] == domain

    # Sign-up: the user is in the database, with its metadata, and the SDK saw Auth0's answer.
    user = User.objects.get(tenant=tenant, email="grace@acme.test")
    assert user.user_metadata == {"color": "blue", "plan": "pro"}
    assert user.app_metadata == {} and user.given_name == "Grace"
    assert user.connection.name == DB and user.password  # hashed, never the password itself
    assert user.password != "Correct-horse-9"
    signed_up = out["signUp"]
    assert signed_up["status"] == 200
    assert signed_up["data"]["user_id"] == user.user_id
    assert signed_up["data"]["_id"] == user.user_id.removeprefix("auth0|")
    assert signed_up["data"]["id"] == signed_up["data"]["_id"]  # the SDK's own mapping
    assert signed_up["data"]["email"] == "grace@acme.test"
    assert signed_up["data"]["user_metadata"] == {"color": "blue", "plan": "pro"}

    # A taken email: Auth0's default refusal, which tells nothing.
    duplicate = out["duplicateSignUp"]
    assert duplicate is not None and duplicate["isAuthApiError"]
    assert (duplicate["error"], duplicate["statusCode"]) == ("invalid_signup", 400)
    assert User.objects.filter(tenant=tenant, email="grace@acme.test").count() == 1

    # Sign-in: the SDK validated the ID token (it fetched the JWKS over https://<domain>/).
    signed_in = out["signIn"]
    assert signed_in["status"] == 200
    assert out["jwksFetchesAfterSignIn"] == [f"https://{domain}/.well-known/jwks.json"]
    body = signed_in["data"]
    assert body["token_type"] == "Bearer" and body["expires_in"] == 86400
    assert body["scope"] == "openid profile email"
    issuer = f"https://{domain}/"
    id_claims = signed_in["idTokenClaims"]
    assert id_claims["iss"] == issuer and id_claims["aud"] == application.client_id
    assert id_claims["sub"] == user.user_id and id_claims["nonce"] == "n-42"
    assert id_claims["email"] == "grace@acme.test" and id_claims["given_name"] == "Grace"
    assert keys.verify(tenant, body["id_token"], issuer=issuer, audience=application.client_id)
    access = keys.verify(tenant, body["access_token"], issuer=issuer, audience=f"{issuer}api/v2/")
    assert access["sub"] == user.user_id and access["azp"] == application.client_id
    token_url = f"https://{domain}/oauth/token"
    assert out["requests"] == [f"https://{domain}/dbconnections/signup"] * 2 + [token_url] * 4

    # The validation is on: the SDK itself refuses an ID token whose nonce is not the one
    # it expects (the server signed what it was sent).
    mismatch = out["nonceMismatch"]
    assert mismatch is not None and mismatch["isIdTokenValidatorError"]
    assert 'expected "expected", found "sent"' in mismatch["message"]

    # Refusals: OAuth's invalid_grant, the same for a wrong password and for nobody.
    for refused in (out["wrongPassword"], out["noSuchUser"]):
        assert refused is not None and refused["isAuthApiError"]
        assert refused["error"] == "invalid_grant" and refused["statusCode"] == 403
        assert refused["error_description"] == "Wrong email or password."

    user.refresh_from_db()
    assert user.logins_count == 2 and user.last_login is not None  # the two good passwords
