"""Self-service (SPEC.md section 11): an end user's own access token on the Management API.

An access token from `POST /oauth/token` (users/auth/token.py) is a JWT of the tenant for the
audience `<issuer>api/v2/`, whose `sub` is the user and whose `scope` holds what was granted
of the current-user scopes below. With it the end user may `GET /users/{their id}` and
`PATCH` it with `{"user_metadata": ...}` only; everything else is 403 `insufficient_scope`,
refused before anything is read or written. Writes are audited as `end_user:<user_id>` on
channel `profile`; the write path refuses `app_metadata` from the end user once more.

Which tenant: the one the request reached (the root of a tenant's domain, or
`/tenants/<slug>/api/v2/`). The token must be that tenant's and issued for that address: its
`iss` is the request's own issuer and its audience the Management API there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest

from users import metadata
from users.api.errors import ApiError
from users.audit import Actor, Context
from users.auth import keys
from users.auth.keys import InvalidToken
from users.auth.tenancy import auth_tenant, issuer
from users.models import ActorKind, Channel, Tenant, User

READ_CURRENT_USER = "read:current_user"
UPDATE_CURRENT_USER_METADATA = "update:current_user_metadata"
CREATE_CURRENT_USER_METADATA = "create:current_user_metadata"
DELETE_CURRENT_USER_METADATA = "delete:current_user_metadata"
CURRENT_USER_SCOPES = (
    READ_CURRENT_USER,
    UPDATE_CURRENT_USER_METADATA,
    CREATE_CURRENT_USER_METADATA,
    DELETE_CURRENT_USER_METADATA,
)
# The only property an end user's PATCH may carry.
WRITABLE = frozenset({metadata.USER_METADATA})
_BUCKET_KEY_MAX = 100  # RateBucket.key


@dataclass(frozen=True)
class EndUser:
    """Who an end user's access token speaks for, once verified."""

    tenant: Tenant
    user_id: str
    scopes: frozenset[str]

    @property
    def bucket(self) -> str:
        """The rate-limit bucket of this user (one per user of a tenant)."""
        key = f"end_user:{self.tenant.pk}:{self.user_id}"
        if len(key) <= _BUCKET_KEY_MAX:
            return key
        digest = hashlib.sha256(self.user_id.encode("utf-8", "surrogatepass")).hexdigest()
        return f"end_user:{self.tenant.pk}:sha256:{digest}"


def looks_like_jwt(token: str) -> bool:
    """A JWS in compact form has three dot-separated parts (an API client's token has none)."""
    return token.count(".") == 2


def authenticate(request: HttpRequest, token: str) -> EndUser:
    """The end user of a valid access token for the Management API of the tenant this
    request reached (the path form's slug, or else the Host as a tenant's domain);
    InvalidToken (401) otherwise. The token must be that tenant's, issued for this address:
    `keys.verify` checks its signature against the tenant's keys, its `iss` against the
    issuer of the form the request used, and its audience."""
    match = request.resolver_match
    try:
        tenant = auth_tenant(request, match.kwargs.get("slug") if match is not None else None)
    except Http404:
        raise InvalidToken("This address is no tenant's API.") from None
    iss = issuer(tenant, request)
    claims = keys.verify(tenant, token, issuer=iss, audience=f"{iss}api/v2/")
    sub, scope = claims.get("sub"), claims.get("scope", "")
    if not isinstance(sub, str) or not sub or not isinstance(scope, str):
        raise InvalidToken("The token has no subject, or its scope is not a string.")
    return EndUser(tenant=tenant, user_id=sub, scopes=frozenset(scope.split()))


def insufficient_scope(*expected: str, detail: str = "") -> ApiError:
    message = f"Insufficient scope, expected any of: {','.join(expected)}"
    return ApiError(403, f"{message}.{' ' + detail if detail else ''}", "insufficient_scope")


def _require(end_user: EndUser, scope: str, *others: str) -> None:
    if scope not in end_user.scopes:
        raise insufficient_scope(*others, scope)


def authorize(request: HttpRequest, end_user: EndUser) -> None:
    """What an end user may do, checked before the body is even validated: `GET` their own
    user with read:current_user; `PATCH` it with update:current_user_metadata and a body of
    `user_metadata` only. 403 insufficient_scope otherwise."""
    match = request.resolver_match
    target = match.kwargs.get("id") if match is not None else None
    if request.method == "GET":
        _require(end_user, READ_CURRENT_USER, "read:users")
    elif request.method == "PATCH":
        _require(
            end_user, UPDATE_CURRENT_USER_METADATA, "update:users", "update:users_app_metadata"
        )
        extra = sorted(_body_keys(request) - WRITABLE)
        if extra:
            raise insufficient_scope(
                "update:users",
                "update:users_app_metadata",
                detail=f"An end user may change user_metadata only, not {', '.join(extra)}.",
            )
    else:
        raise insufficient_scope("update:users")
    if target != end_user.user_id:
        raise ApiError(
            403,
            "User to be acted on does not match subject in bearer token.",
            "insufficient_scope",
        )


def _body_keys(request: HttpRequest) -> set[str]:
    """The top-level properties of a JSON object body; none for anything else (which the
    body's validation then refuses with 400)."""
    try:
        body = metadata.parse_json(request.body or b"")
    except metadata.MetadataError:
        return set()
    return {str(key) for key in body} if isinstance(body, dict) else set()


def check_metadata_change(end_user: EndUser, current: dict[str, Any], change: Any) -> None:
    """Adding a `user_metadata` key needs create:current_user_metadata; removing one (`null`,
    or `{}` clearing a tier that has keys) needs delete:current_user_metadata. Changing the
    value of a key that exists needs only update:current_user_metadata (checked before)."""
    if not isinstance(change, dict):
        return  # not a tier: the write path refuses it (400)
    if change:
        added = sorted(
            key for key, value in change.items() if value is not None and key not in current
        )
        removed = sorted(key for key, value in change.items() if value is None and key in current)
    else:
        added, removed = [], sorted(current)
    if added and CREATE_CURRENT_USER_METADATA not in end_user.scopes:
        raise insufficient_scope(
            CREATE_CURRENT_USER_METADATA, detail=f"Adding user_metadata keys: {', '.join(added)}."
        )
    if removed and DELETE_CURRENT_USER_METADATA not in end_user.scopes:
        raise insufficient_scope(
            DELETE_CURRENT_USER_METADATA,
            detail=f"Removing user_metadata keys: {', '.join(removed)}.",
        )


def context(request: HttpRequest, user: User) -> Context:
    """Who writes: the end user, `end_user:<user_id>`, on channel `profile`."""
    actor = Actor(ActorKind.END_USER, user.user_id, user.email or user.user_id)
    return Context.from_request(request, channel=Channel.PROFILE, actor=actor)
