"""GET /.well-known/jwks.json and /.well-known/openid-configuration, by the tenant's domain
and by the path form; and a token signed by `keys.sign`, checked by PyJWT's PyJWKClient
against the JWKS a live server serves."""

from __future__ import annotations

from typing import Any

import jwt as pyjwt
import pytest
from django.test import Client

from users import services
from users.audit import Context
from users.auth import keys
from users.models import GrantType, Tenant

JWKS = "/.well-known/jwks.json"
CONFIG = "/.well-known/openid-configuration"


@pytest.fixture(autouse=True)
def _hosts(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "login.acme.test", "127.0.0.1", "localhost"]


@pytest.fixture
def acme(tenant: Tenant, ctx: Context) -> Tenant:
    tenant.domain = "login.acme.test"
    return services.tenant_update(tenant=tenant, changed=["domain"], by=ctx)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "host"), [(JWKS, "login.acme.test"), (f"/tenants/acme{JWKS}", "127.0.0.1")]
)
def test_jwks(client: Client, acme: Tenant, path: str, host: str) -> None:
    response = client.get(path, HTTP_HOST=host)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    (key,) = response.json()["keys"]
    assert set(key) == {"kid", "kty", "n", "e", "alg", "use"}
    assert (key["kty"], key["alg"], key["use"], key["e"]) == ("RSA", "RS256", "sig", "AQAB")
    assert key["kid"] == services.signing_key_current(acme).kid


@pytest.mark.django_db
def test_jwks_lists_the_current_and_the_previous_key(
    client: Client, tenant: Tenant, ctx: Context
) -> None:
    first = services.signing_key_current(tenant).kid
    second = services.signing_key_rotate(tenant=tenant, by=ctx).kid
    listed = client.get(f"/tenants/acme{JWKS}").json()["keys"]
    assert [key["kid"] for key in listed] == [second, first]
    assert all("d" not in key and "p" not in key for key in listed)  # public parts only


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "host", "base"),
    [
        (CONFIG, "login.acme.test", "https://login.acme.test/"),
        (f"/tenants/acme{CONFIG}", "127.0.0.1", "https://127.0.0.1/tenants/acme/"),
    ],
)
def test_openid_configuration(
    client: Client, acme: Tenant, path: str, host: str, base: str
) -> None:
    response = client.get(path, HTTP_HOST=host)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    found = response.json()
    assert found["issuer"] == base
    assert found["jwks_uri"] == base + ".well-known/jwks.json"
    assert found["authorization_endpoint"] == base + "authorize"
    assert found["token_endpoint"] == base + "oauth/token"
    assert found["userinfo_endpoint"] == base + "userinfo"
    assert found["response_types_supported"] == ["code"]
    assert found["subject_types_supported"] == ["public"]
    assert found["id_token_signing_alg_values_supported"] == ["RS256"]
    assert found["grant_types_supported"] == GrantType.values
    assert {"openid", "profile", "email"} <= set(found["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "email", "nonce"} <= set(found["claims_supported"])


@pytest.mark.django_db
def test_discovery_is_public_and_get_only(client: Client, tenant: Tenant) -> None:
    assert Client(enforce_csrf_checks=True).get(f"/tenants/acme{CONFIG}").status_code == 200
    assert client.post(f"/tenants/acme{JWKS}").status_code == 405
    assert client.get(f"/tenants/acme{JWKS}/").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_pyjwt_verifies_our_tokens_against_the_served_jwks(
    live_server: Any, tenant: Tenant, ctx: Context
) -> None:
    jwks_url = f"{live_server.url}/tenants/acme{JWKS}"
    claims = {"sub": "auth0|abc", "aud": "client-1", "iss": "https://x/tenants/acme/"}
    before = keys.sign(tenant, claims)
    services.signing_key_rotate(tenant=tenant, by=ctx)
    after = keys.sign(tenant, claims)
    client = pyjwt.PyJWKClient(jwks_url, cache_keys=False, cache_jwk_set=False)
    assert len(client.get_signing_keys()) == 2
    for token in (before, after):
        signing_key = client.get_signing_key_from_jwt(token)
        decoded = pyjwt.decode(
            token,
            signing_key.key,
            algorithms=["RS256"],
            audience="client-1",
            issuer="https://x/tenants/acme/",
        )
        assert decoded["sub"] == "auth0|abc"
