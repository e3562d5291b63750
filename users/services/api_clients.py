"""Management API clients: create one (its token is returned once and only its SHA-256 is
kept) and revoke one. Each call records one audit event."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from users import audit
from users.audit import Context
from users.models import ApiClient, AuditAction, Scope, Tenant
from users.services.errors import ServiceError

API_TOKEN_PREFIX = "mda_"


def api_token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (a token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def api_client_create(
    *, tenant: Tenant, name: str, scopes: Iterable[str], by: Context, staff_pk: int | None = None
) -> tuple[ApiClient, str]:
    """A new API client and its token. The token is returned this once and never stored."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in Scope.values]
    if unknown:
        raise ServiceError(
            f"Unknown scope(s): {', '.join(unknown)}. Scopes are: {', '.join(Scope.values)}."
        )
    if not wanted:
        raise ServiceError("Give the client at least one scope.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the client a name.")
    if ApiClient.objects.filter(tenant=tenant, name=name).exists():
        raise ServiceError(f"This tenant already has an API client named {name!r}.")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        tenant=tenant,
        name=name,
        scopes=wanted,
        token_hash=api_token_hash(token),
        token_prefix=token[:10],
        created_by_id=staff_pk,
    )
    client.full_clean()
    client.save()
    audit.record(
        tenant=tenant,
        ctx=by,
        action=AuditAction.API_CLIENT_CREATE,
        before={},
        after={"name": name, "scopes": wanted},
    )
    return client, token


@transaction.atomic
def api_client_revoke(*, client: ApiClient, by: Context) -> ApiClient:
    """Revoke a client: its token stops working at once. Revoking twice changes nothing."""
    locked = ApiClient.objects.select_for_update().get(pk=client.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action=AuditAction.API_CLIENT_REVOKE,
        before={"name": locked.name, "revoked": False},
        after={"name": locked.name, "revoked": True},
    )
    return locked
