"""Writes to one user: create, update (merge or replace), remove a metadata key, block or
unblock, delete. Each call is one transaction that locks the row, checks the expected
version, applies the rules of `users.metadata` and records one audit event; a call that
changes nothing records nothing, and a refused call changes nothing. A new password is
hashed before that transaction opens (`core.hash_password`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from users import audit, metadata
from users.audit import Context
from users.metadata.defaults import generated_profile
from users.models import (
    DATABASE_CONNECTION,
    AuditAction,
    Connection,
    Identity,
    Strategy,
    Tenant,
    User,
    new_user_id,
)
from users.services.core import (
    apply,
    assign,
    check_email_free,
    check_version,
    details,
    guard_tiers,
    hash_password,
    lock,
    on_denied,
    prepare_update,
    save,
)
from users.services.errors import ServiceError, UserExists
from users.services.leaves import leaves_insert

# Connections whose new users get Auth0's generated name, nickname and picture.
GENERATING_STRATEGIES = frozenset({Strategy.DATABASE, Strategy.CUSTOM})
BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


def resolve_connection(
    tenant: Tenant, name: str | None, cache: dict[str, Connection] | None = None
) -> Connection:
    """The tenant's connection of that name (the database connection when none is given)."""
    wanted = name or DATABASE_CONNECTION
    if cache is not None and wanted in cache:
        return cache[wanted]
    connection = Connection.objects.filter(tenant=tenant, name=wanted).first()
    if connection is None:
        raise ServiceError(f"The connection {wanted!r} does not exist in this tenant.")
    if cache is not None:
        cache[wanted] = connection
    return connection


def _full_user_id(given: str | None, connection: Connection) -> str:
    if given is None:
        return new_user_id(connection.provider)
    return given if "|" in given else f"{connection.provider}|{given}"


def identity_for(user: User) -> Identity:
    """The identity a new user has in its own connection."""
    provider, _, provider_user_id = user.user_id.partition("|")
    return Identity(
        user=user,
        connection=user.connection,
        provider=provider or user.connection.provider,
        provider_user_id=provider_user_id or user.user_id,
        is_social=user.connection.is_social,
    )


def new_user(
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    *,
    rules: metadata.Rules,
    connections: dict[str, Connection] | None = None,
) -> tuple[User, metadata.Update]:
    """A user built from a create body and checked by the rules, unsaved; its password is
    hashed once the body is known to be acceptable (hashing is slow on purpose)."""
    guard_tiers(body, by)
    update = metadata.prepare_create(body, rules, on_denied=on_denied(by))
    connection = resolve_connection(tenant, update.connection, connections)
    if connection.strategy == Strategy.DATABASE and not update.profile.get("email"):
        raise ServiceError("email is required for users of a database connection.")
    now = timezone.now()
    user = User(
        tenant=tenant,
        connection=connection,
        user_id=_full_user_id(update.user_id, connection),
        created_at=now,
        updated_at=now,
    )
    assign(user, update, hash_password(update.password))
    if connection.strategy in GENERATING_STRATEGIES:
        # What Auth0 generates when the body has none: name, nickname, picture (stored and
        # audited like the rest). Social and enterprise users have them from their provider.
        for key, value in generated_profile(user.profile(), rules.deny_list).items():
            setattr(user, key, value)
    return user, update


def prepare_create(
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    *,
    password_hash: str | None,
    rules: metadata.Rules,
    connections: dict[str, Connection] | None = None,
) -> tuple[User, metadata.Update]:
    """`new_user`, keeping a bcrypt `password_hash` from another system as the password."""
    if password_hash is not None and not BCRYPT_HASH.match(password_hash):
        raise ServiceError("password_hash must be a bcrypt hash ($2a$, $2b$ or $2y$).")
    user, update = new_user(tenant, body, by, rules=rules, connections=connections)
    if password_hash is not None:
        user.password = f"bcrypt${password_hash}"
    return user, update


def create_event(user: User, update: metadata.Update) -> audit.Entry:
    return audit.Entry(
        action=AuditAction.USER_CREATE,
        before={},
        after=user.profile(),
        target=user,
        details=details(update, connection=user.connection.name),
    )


def user_create(
    *, tenant: Tenant, body: Mapping[str, Any], by: Context, password_hash: str | None = None
) -> User:
    """Create a user from an API-style body (`connection`, `email`, `password`, profile,
    both tiers whole, optionally `user_id`). `password_hash` (bcrypt, from an import)
    is stored as is, so the user keeps their password.

    The body is checked and its password hashed first (reading only); the checks against
    other users and every write are then one transaction."""
    user, update = prepare_create(
        tenant, body, by, password_hash=password_hash, rules=tenant.metadata_rules()
    )
    with transaction.atomic():
        if User.objects.filter(tenant=tenant, user_id=user.user_id).exists():
            raise UserExists(f"A user with the user_id {user.user_id} already exists.")
        check_email_free(user.email, user.connection, exclude_pk=None)
        save(user, creating=True)
        identity_for(user).save()
        leaves_insert([user])
        audit.record_many(tenant=tenant, ctx=by, entries=[create_event(user, update)])
    return user


def _update_locked(
    locked: User,
    body: Mapping[str, Any],
    *,
    by: Context,
    mode: metadata.MergeMode,
    expected_version: int | None,
    password_hash: str | None = None,
) -> User:
    guard_tiers(body, by)
    check_version(locked, expected_version)
    update = prepare_update(locked, body, locked.tenant.metadata_rules(), mode, by)
    extra = {"mode": mode} if mode != "merge" else None
    return apply(
        locked,
        update,
        by=by,
        action=AuditAction.USER_UPDATE,
        details=extra,
        password_hash=password_hash,
    )


def user_update(
    *,
    user: User,
    body: Mapping[str, Any],
    by: Context,
    mode: metadata.MergeMode = "merge",
    expected_version: int | None = None,
) -> User:
    """Apply a PATCH-style body: root attributes replace, each tier merges at the first
    level (`mode="merge"`, SPEC.md section 4) or is replaced whole (`mode="replace"`).

    A call that changes nothing writes nothing and records nothing. A new password is
    hashed before the transaction opens.
    """
    guard_tiers(body, by)
    password_hash = hash_password(body.get("password"))
    with transaction.atomic():
        return _update_locked(
            lock(user),
            body,
            by=by,
            mode=mode,
            expected_version=expected_version,
            password_hash=password_hash,
        )


@transaction.atomic
def user_delete_metadata_key(
    *, user: User, tier: str, key: str, by: Context, expected_version: int | None = None
) -> User:
    """Remove one first-level key of a tier; refuses a key that is not there."""
    if tier not in metadata.TIERS:
        raise ServiceError(f"{tier!r} is not a metadata tier.")
    locked = lock(user)
    metadata.delete_key(getattr(locked, tier), key, tier=tier)
    return _update_locked(
        locked, {tier: {key: None}}, by=by, mode="merge", expected_version=expected_version
    )


@transaction.atomic
def user_set_blocked(
    *, user: User, blocked: bool, by: Context, expected_version: int | None = None
) -> User:
    locked = lock(user)
    check_version(locked, expected_version)
    update = metadata.apply_update(locked.profile(), {"blocked": blocked})
    action = AuditAction.USER_BLOCK if blocked else AuditAction.USER_UNBLOCK
    return apply(locked, update, by=by, action=action)


@transaction.atomic
def user_delete(*, user: User, by: Context, expected_version: int | None = None) -> None:
    locked = lock(user)
    check_version(locked, expected_version)
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action=AuditAction.USER_DELETE,
        before=locked.profile(),
        after={},
        target=locked,
        details={"connection": locked.connection.name},
    )
    locked.delete()
