"""Applications (Auth0's "clients"): create one (its client secret is returned once and only
its SHA-256 is kept), change its settings, rotate its secret, delete it. Each call is one
transaction and records one audit event, which never holds a secret or its hash."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from users import audit
from users.audit import Context
from users.models import (
    DEFAULT_GRANTS,
    Application,
    AuditAction,
    GrantType,
    Tenant,
)
from users.models.applications import ID_TOKEN_LIFETIME_DEFAULT
from users.services.errors import ServiceError

# What a change to an application may touch, and what its audit event shows.
APPLICATION_SETTINGS = (
    "name",
    "callback_urls",
    "logout_urls",
    "grant_types",
    "id_token_lifetime",
)


def application_secret_hash(secret: str) -> str:
    """What is stored of a client secret: its SHA-256 (the secret is random, 384 bits)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def application_check_secret(application: Application, secret: str) -> bool:
    """Whether `secret` is the application's client secret (constant time). A public
    application has none, so nothing matches."""
    if application.is_public or not secret:
        return False
    return hmac.compare_digest(application_secret_hash(secret), application.client_secret_hash)


def _new_secret() -> str:
    return secrets.token_urlsafe(48)


def _new_client_id() -> str:
    return secrets.token_urlsafe(24)  # 32 URL-safe characters, as long as Auth0's


def _settings_of(application: Application) -> dict[str, Any]:
    return {name: getattr(application, name) for name in APPLICATION_SETTINGS}


def _moment(application: Application) -> str | None:
    rotated = application.secret_rotated_at
    return rotated.isoformat() if rotated else None


def _grants(grant_types: Iterable[str]) -> list[str]:
    """The grants in GrantType's order, each once (unknown ones are refused by validation)."""
    wanted = list(dict.fromkeys(grant_types))
    known = [grant for grant in GrantType.values if grant in wanted]
    return known + [grant for grant in wanted if grant not in known]


def _validated(application: Application) -> None:
    """The application's fields checked, as one ServiceError naming the first wrong field."""
    application.name = application.name.strip()
    if not application.name:
        raise ServiceError("Give the application a name.", path=("name",))
    same_name = Application.objects.filter(tenant_id=application.tenant_id, name=application.name)
    if same_name.exclude(pk=application.pk).exists():
        raise ServiceError(
            f"This tenant already has an application named {application.name!r}.",
            path=("name",),
        )
    try:
        application.full_clean(validate_constraints=False)  # the name was checked above
    except ValidationError as error:
        errors = error.message_dict
        field = next((name for name in APPLICATION_SETTINGS if name in errors), None)
        field = field or next(iter(errors))
        raise ServiceError(" ".join(errors[field]), path=(field,)) from None


@transaction.atomic
def application_create(
    *,
    tenant: Tenant,
    name: str,
    by: Context,
    callback_urls: Iterable[str] = (),
    logout_urls: Iterable[str] = (),
    grant_types: Iterable[str] | None = None,
    id_token_lifetime: int = ID_TOKEN_LIFETIME_DEFAULT,
    public: bool = False,
) -> tuple[Application, str | None]:
    """A new application and its client secret (None for a public application). The secret
    is returned this once and never stored."""
    secret = None if public else _new_secret()
    application = Application(
        tenant=tenant,
        name=name,
        client_id=_new_client_id(),
        client_secret_hash=application_secret_hash(secret) if secret else "",
        callback_urls=list(callback_urls),
        logout_urls=list(logout_urls),
        grant_types=_grants(DEFAULT_GRANTS if grant_types is None else grant_types),
        id_token_lifetime=id_token_lifetime,
    )
    _validated(application)
    application.save()
    audit.record(
        tenant=tenant,
        ctx=by,
        action=AuditAction.APPLICATION_CREATE,
        before={},
        after={
            "client_id": application.client_id,
            "public": application.is_public,
            **_settings_of(application),
        },
    )
    return application, secret


@transaction.atomic
def application_update(
    *,
    application: Application,
    by: Context,
    name: str | None = None,
    callback_urls: Iterable[str] | None = None,
    logout_urls: Iterable[str] | None = None,
    grant_types: Iterable[str] | None = None,
    id_token_lifetime: int | None = None,
) -> Application:
    """Change the given settings (None: unchanged). Nothing changed records nothing."""
    locked = Application.objects.select_for_update().get(pk=application.pk)
    before = _settings_of(locked)
    if name is not None:
        locked.name = name
    if callback_urls is not None:
        locked.callback_urls = list(callback_urls)
    if logout_urls is not None:
        locked.logout_urls = list(logout_urls)
    if grant_types is not None:
        locked.grant_types = _grants(grant_types)
    if id_token_lifetime is not None:
        locked.id_token_lifetime = id_token_lifetime
    _validated(locked)
    after = _settings_of(locked)
    if before == after:
        return locked
    locked.updated_at = timezone.now()
    locked.save()
    changed = [key for key in APPLICATION_SETTINGS if before[key] != after[key]]
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action=AuditAction.APPLICATION_UPDATE,
        before={"client_id": locked.client_id, **{key: before[key] for key in changed}},
        after={"client_id": locked.client_id, **{key: after[key] for key in changed}},
    )
    return locked


@transaction.atomic
def application_rotate_secret(*, application: Application, by: Context) -> tuple[Application, str]:
    """A new client secret, returned this once; the old one stops matching at once."""
    locked = Application.objects.select_for_update().get(pk=application.pk)
    if locked.is_public:
        raise ServiceError(
            f"{locked.name} is a public application: it has no client secret to rotate."
        )
    rotated_before = _moment(locked)
    secret = _new_secret()
    locked.client_secret_hash = application_secret_hash(secret)
    locked.secret_rotated_at = locked.updated_at = timezone.now()
    locked.save(update_fields=["client_secret_hash", "secret_rotated_at", "updated_at"])
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action=AuditAction.APPLICATION_ROTATE_SECRET,
        before={"client_id": locked.client_id, "secret_rotated_at": rotated_before},
        after={"client_id": locked.client_id, "secret_rotated_at": _moment(locked)},
    )
    return locked, secret


@transaction.atomic
def application_delete(*, application: Application, by: Context) -> None:
    """Delete the application: its client_id and secret stop working at once."""
    locked = Application.objects.select_for_update().filter(pk=application.pk).first()
    if locked is None:
        return
    before = {"client_id": locked.client_id, "public": locked.is_public, **_settings_of(locked)}
    tenant = locked.tenant
    locked.delete()
    audit.record(
        tenant=tenant, ctx=by, action=AuditAction.APPLICATION_DELETE, before=before, after={}
    )
