"""Sign and verify a tenant's tokens (RS256, JWS compact form) with its signing keys.

`sign` uses the current key and names it in the `kid` header; `verify` accepts the current
key and the one retired last (those the JWKS publishes). The token endpoints build on these.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey
from joserfc.jwt import JWTClaimsRegistry

from users import services
from users.auth import crypto
from users.errors import Refusal
from users.models import Tenant

CLOCK_LEEWAY = 60  # seconds, as Auth0's SDKs allow


class InvalidToken(Refusal):
    """A token that is not one of this tenant's, or no longer valid. Changed nothing."""

    code = "invalid_token"
    status = 401


def jwks(tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """The tenant's JSON Web Key Set: the public keys that verify its tokens."""
    return {"keys": [key.public_jwk for key in services.signing_keys_published(tenant)]}


def sign(
    tenant: Tenant, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None
) -> str:
    """A JWT of `claims` signed with the tenant's current key (RS256, with its kid)."""
    key = services.signing_key_current(tenant)
    private = _private_key(bytes(key.private_key_encrypted), tenant.pk, key.kid)
    header = {"typ": "JWT", **(headers or {}), "alg": crypto.ALGORITHM, "kid": key.kid}
    return jwt.encode(header, dict(claims), private, algorithms=[crypto.ALGORITHM])


@functools.lru_cache(maxsize=256)
def _private_key(sealed: bytes, tenant_pk: int, kid: str) -> RSAKey:
    """A key, unsealed once per process: loading checks the RSA key (about 40 ms), and a
    sign-in signs twice. Keyed by the sealed bytes too, so a rotated or re-sealed key is
    never served from the cache."""
    return crypto.unseal(sealed, tenant_pk=tenant_pk, kid=kid)


def verify(
    tenant: Tenant,
    token: str,
    *,
    issuer: str | None = None,
    audience: str | None = None,
) -> dict[str, Any]:
    """The claims of `token` once its signature (by a published key of the tenant), `alg`
    and times (`exp`, `nbf`, `iat`, with a minute's leeway) check out, and `iss`/`aud` when
    given; InvalidToken otherwise."""
    try:
        header = jws.extract_compact(token.encode("ascii")).protected
    except (JoseError, ValueError, UnicodeError):
        raise InvalidToken("The token is not a JWS in compact form.") from None
    if header.get("alg") != crypto.ALGORITHM:
        raise InvalidToken(f"The token must be signed with {crypto.ALGORITHM}.")
    published = {key.kid: key for key in services.signing_keys_published(tenant)}
    key = published.get(str(header.get("kid")))
    if key is None:
        raise InvalidToken("The token's kid is not one of this tenant's signing keys.")
    try:
        decoded = jwt.decode(
            token, RSAKey.import_key(key.public_jwk), algorithms=[crypto.ALGORITHM]
        )
        _claims_registry(issuer, audience).validate(decoded.claims)
    except (JoseError, ValueError) as error:
        raise InvalidToken(f"The token is not valid: {error}") from None
    return dict(decoded.claims)


def _claims_registry(issuer: str | None, audience: str | None) -> JWTClaimsRegistry:
    expected: dict[str, Any] = {}
    if issuer is not None:
        expected["iss"] = {"essential": True, "value": issuer}
    if audience is not None:
        expected["aud"] = {"essential": True, "value": audience}
    return JWTClaimsRegistry(leeway=CLOCK_LEEWAY, **expected)
