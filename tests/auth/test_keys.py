"""The tenants' signing keys: made on first use, encrypted at rest, rotated keeping the
previous key; `sign` and `verify`; and a token checked by PyJWT against the served JWKS."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jwt as pyjwt
import pytest
from django.core.management import call_command
from joserfc.jwk import RSAKey

from tests.factories import TenantFactory
from tests.helpers import events
from users import services
from users.audit import Context
from users.auth import crypto, keys
from users.models import SigningKey, Tenant

pytestmark = pytest.mark.django_db

CLAIMS = {"sub": "auth0|abc", "aud": "client-1", "iss": "https://login.acme.test/"}


def now() -> int:
    return int(time.time())


def test_the_first_key_is_made_on_first_use(tenant: Tenant) -> None:
    assert not SigningKey.objects.exists()
    key = services.signing_key_current(tenant)
    assert services.signing_key_current(tenant) == key
    assert SigningKey.objects.count() == 1 and key.is_current
    assert key.public_jwk == {
        "kty": "RSA",
        "n": key.public_jwk["n"],
        "e": "AQAB",
        "kid": key.kid,
        "alg": "RS256",
        "use": "sig",
    }
    assert len(base64.urlsafe_b64decode(key.public_jwk["n"] + "==")) * 8 == 2048
    assert key.kid == RSAKey.import_key(key.public_jwk).thumbprint()


def test_the_private_key_is_encrypted_at_rest(tenant: Tenant) -> None:
    key = services.signing_key_current(tenant)
    stored = bytes(SigningKey.objects.get(pk=key.pk).private_key_encrypted)
    private = crypto.unseal(stored, tenant_pk=tenant.pk, kid=key.kid)
    pem = private.as_pem(private=True)
    der_body = b"".join(pem.splitlines()[1:-1])
    assert b"PRIVATE KEY" not in stored and der_body[:40] not in stored
    assert base64.b64decode(der_body)[:64] not in stored
    d = str(private.as_dict(private=True)["d"]).encode()
    assert d not in stored and base64.urlsafe_b64decode(d + b"==") not in stored
    row = SigningKey.objects.filter(pk=key.pk).values()[0]
    assert "PRIVATE" not in json.dumps(row, default=str)


def test_a_sealed_key_is_bound_to_its_tenant_and_kid_and_secret(
    tenant: Tenant, paid_tenant: Tenant, settings: Any
) -> None:
    key = services.signing_key_current(tenant)
    stored = bytes(key.private_key_encrypted)
    with pytest.raises(crypto.KeyUnreadable):
        crypto.unseal(stored, tenant_pk=paid_tenant.pk, kid=key.kid)
    with pytest.raises(crypto.KeyUnreadable):
        crypto.unseal(stored, tenant_pk=tenant.pk, kid="other")
    settings.SIGNING_KEYS_SECRET = "another secret"
    with pytest.raises(crypto.KeyUnreadable, match="rotate_signing_key"):
        keys.sign(tenant, CLAIMS)
    call_command("rotate_signing_key", "acme")  # the way out: a new key under the new secret
    assert keys.verify(tenant, keys.sign(tenant, CLAIMS))["sub"] == "auth0|abc"


def test_sign_and_verify(tenant: Tenant) -> None:
    token = keys.sign(
        tenant, {**CLAIMS, "exp": now() + 60}, headers={"alg": "none", "typ": "at+jwt"}
    )
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    kid = services.signing_key_current(tenant).kid
    assert header == {"typ": "at+jwt", "alg": "RS256", "kid": kid}  # alg and kid are ours
    assert keys.verify(tenant, token)["aud"] == "client-1"
    assert keys.verify(tenant, token, issuer=CLAIMS["iss"], audience="client-1")["sub"]


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "not a token",
        "a.b.c",
        "ünïcode.b.c",
    ],
)
def test_junk_is_an_invalid_token(tenant: Tenant, bad: str) -> None:
    with pytest.raises(keys.InvalidToken) as refused:
        keys.verify(tenant, bad)
    assert (refused.value.status, refused.value.code) == (401, "invalid_token")


def test_tampered_expired_foreign_and_mismatched_tokens_are_refused(
    tenant: Tenant, paid_tenant: Tenant
) -> None:
    token = keys.sign(tenant, {**CLAIMS, "exp": now() + 60})
    head, _body, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({**CLAIMS, "sub": "x"}).encode())
    with pytest.raises(keys.InvalidToken, match="not valid"):
        keys.verify(tenant, f"{head}.{forged.decode().rstrip('=')}.{signature}")
    with pytest.raises(keys.InvalidToken, match="not one of this tenant's"):
        keys.verify(paid_tenant, token)
    expired = keys.sign(tenant, {**CLAIMS, "exp": now() - 120})
    with pytest.raises(keys.InvalidToken, match="exp"):
        keys.verify(tenant, expired)
    assert keys.verify(tenant, keys.sign(tenant, {**CLAIMS, "exp": now() - 30}))  # leeway
    with pytest.raises(keys.InvalidToken, match="iss"):
        keys.verify(tenant, token, issuer="https://other.test/")
    with pytest.raises(keys.InvalidToken, match="aud"):
        keys.verify(tenant, token, audience="client-2")
    hs256 = pyjwt.encode(CLAIMS, "s" * 32, algorithm="HS256", headers={"kid": "x"})
    with pytest.raises(keys.InvalidToken, match="RS256"):
        keys.verify(tenant, hs256)


def test_rotation_keeps_the_previous_key_verifying(tenant: Tenant, ctx: Context) -> None:
    first = services.signing_key_current(tenant)
    old_token = keys.sign(tenant, CLAIMS)
    second = services.signing_key_rotate(tenant=tenant, by=ctx)
    assert second.kid != first.kid and services.signing_key_current(tenant) == second
    first.refresh_from_db()
    assert first.retired_at is not None
    assert keys.verify(tenant, old_token)["sub"] == "auth0|abc"
    new_token = keys.sign(tenant, CLAIMS)
    assert json.loads(base64.urlsafe_b64decode(new_token.split(".")[0] + "=="))["kid"] == (
        second.kid
    )
    assert [key["kid"] for key in keys.jwks(tenant)["keys"]] == [second.kid, first.kid]
    services.signing_key_rotate(tenant=tenant, by=ctx)  # twice: the first key is dropped
    with pytest.raises(keys.InvalidToken, match="kid"):
        keys.verify(tenant, old_token)
    assert keys.verify(tenant, new_token)
    assert len(keys.jwks(tenant)["keys"]) == 2
    rotations = events(tenant, action="signing_key.rotate")
    assert len(rotations) == 2
    text = json.dumps([[e.forward_patch, e.inverse_patch, e.details] for e in rotations])
    assert "PRIVATE" not in text and first.public_jwk["n"] not in text


def test_rotation_of_a_tenant_without_a_key(tenant: Tenant, ctx: Context) -> None:
    key = services.signing_key_rotate(tenant=tenant, by=ctx)
    assert key.is_current and SigningKey.objects.count() == 1
    (event,) = events(tenant, action="signing_key.rotate")
    assert event.forward_patch == [{"op": "replace", "path": "/kid", "value": key.kid}]


def test_keys_are_per_tenant(tenant: Tenant) -> None:
    other = TenantFactory.create(slug="other")
    assert services.signing_key_current(tenant).kid != services.signing_key_current(other).kid


def test_the_command_prints_the_new_kid(tenant: Tenant, capsys: pytest.CaptureFixture[str]) -> None:
    call_command("rotate_signing_key", "acme")
    kid = capsys.readouterr().out.strip().splitlines()[-1]
    assert services.signing_key_current(tenant).kid == kid
    assert events(tenant, action="signing_key.rotate")[0].actor_label == "rotate_signing_key"


def _settings_error(**env: str) -> str:
    environment = {**os.environ, "SECRET_KEY": "x", "AUDIT_CHAIN_KEY": "a", **env}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import metadata_admin.settings as s; print(s.SIGNING_KEYS_SECRET)",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env={k: v for k, v in environment.items() if k != "DJANGO_SETTINGS_MODULE"},
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stderr if done.returncode else done.stdout


def test_without_debug_the_settings_refuse_to_start_without_a_secret() -> None:
    error = _settings_error(DEBUG="False", SIGNING_KEYS_SECRET="")
    assert "ImproperlyConfigured: Set the environment variable SIGNING_KEYS_SECRET" in error
    assert _settings_error(DEBUG="False", SIGNING_KEYS_SECRET="k" * 40).strip() == "k" * 40
    assert _settings_error(DEBUG="True", SIGNING_KEYS_SECRET="").strip() == (
        "derived-from-SECRET_KEY:x"
    )
