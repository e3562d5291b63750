"""Writes to many users at once, with the same rules and events as one at a time: new users
checked one by one and inserted in a few statements (imports), many updates checked one by
one and written together (bulk edit chunks, import upserts), and seeding's bulk create."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction

from users import audit, metadata
from users.audit import Context
from users.bulk import insert_rows
from users.errors import Refusal
from users.models import AuditAction, AuditEvent, Connection, Tenant, User
from users.services.core import Change, apply_many, guard_tiers, hash_password, prepare_update
from users.services.errors import ServiceError, UserExists, UserNotFound
from users.services.leaves import leaves_insert
from users.services.users import create_event, identity_for, new_user, prepare_create


@dataclasses.dataclass(frozen=True)
class NewUser:
    """A user checked by `users_prepare`, ready for `users_create_prepared`."""

    user: User
    update: metadata.Update


def users_prepare(
    *,
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    password_hash: str | None = None,
    rules: metadata.Rules,
    connections: dict[str, Connection],
) -> NewUser:
    """Check one user to create exactly as `user_create` would, without writing; raises
    the same errors. `rules` and `connections` are shared across the calls of a batch."""
    user, update = prepare_create(
        tenant, body, by, password_hash=password_hash, rules=rules, connections=connections
    )
    return NewUser(user, update)


@transaction.atomic
def users_create_prepared(*, tenant: Tenant, new: Sequence[NewUser], by: Context) -> list[User]:
    """Create prepared users in a few statements, each recorded as its own `user.create`
    event, as `user_create` would. All or nothing: if any user_id or email is taken
    (checked first, and again by the database's constraints), UserExists and nothing is
    created. The batch path of imports."""
    users = [item.user for item in new]
    if not users:
        return []
    ids = [user.user_id for user in users]
    if len(set(ids)) != len(ids) or User.objects.filter(tenant=tenant, user_id__in=ids).exists():
        raise UserExists("Some user_ids of this batch are taken; nothing was created.")
    by_connection: dict[int, list[str]] = {}
    for user in users:
        if user.email is not None:
            by_connection.setdefault(user.connection.pk, []).append(user.email.lower())
    for connection_pk, emails in by_connection.items():
        taken = User.objects.filter(connection_id=connection_pk, email__lower__in=emails)
        if len(set(emails)) != len(emails) or taken.exists():
            raise UserExists("Some emails of this batch are taken; nothing was created.")
    _insert_users(tenant, users)
    audit.record_many(tenant=tenant, ctx=by, entries=[create_event(i.user, i.update) for i in new])
    return users


def _insert_users(tenant: Tenant, users: Sequence[User]) -> None:
    """INSERT new users (their pks are set), their identities and search leaves, in a few
    statements; UserExists, and nothing inserted, if a user_id or an email is taken."""
    try:
        with transaction.atomic():
            insert_rows(users)
    except IntegrityError:
        raise UserExists(
            "Some users of this batch already exist (same user_id, or same email in a "
            "connection); nothing was created."
        ) from None
    ids = [user.user_id for user in users]
    pks = dict(User.objects.filter(tenant=tenant, user_id__in=ids).values_list("user_id", "pk"))
    for user in users:
        user.pk = pks[user.user_id]
        user._state.adding = False
    insert_rows([identity_for(user) for user in users])
    leaves_insert(users)


# Read-only attributes a bulk load may carry over from another system.
SYSTEM_FIELDS = frozenset({"created_at", "updated_at", "last_login", "last_ip", "logins_count"})


@transaction.atomic
def user_bulk_create(
    *,
    tenant: Tenant,
    bodies: Sequence[Mapping[str, Any]],
    by: Context,
    system_fields: Sequence[Mapping[str, Any]] | None = None,
) -> list[User]:
    """Create many users at once, each validated like `user_create`, recorded as ONE audit
    event (action `user.bulk_create`) with a batch id.

    For seeding and loading: passwords are refused here (hashing is deliberately slow).
    `system_fields[i]` may carry read-only attributes of row i (SYSTEM_FIELDS) from another
    system. Any invalid row refuses the whole batch.
    """
    rules = tenant.metadata_rules()
    connections: dict[str, Connection] = {}
    users: list[User] = []
    seen: set[str] = set()
    for index, body in enumerate(bodies):
        if "password" in body:
            raise ServiceError(f"Row {index}: bulk creation does not take passwords.")
        try:
            user, _ = new_user(tenant, body, by, rules=rules, connections=connections)
        except metadata.MetadataError as error:
            raise type(error)(f"Row {index}: {error.message}", path=(index, *error.path)) from error
        extra = system_fields[index] if system_fields else {}
        unknown = set(extra) - SYSTEM_FIELDS
        if unknown:
            raise ServiceError(f"Row {index}: {', '.join(sorted(unknown))} cannot be loaded.")
        for key, value in extra.items():
            setattr(user, key, value)
        if user.user_id in seen:
            raise UserExists(f"Row {index}: the user_id {user.user_id} is in the batch twice.")
        seen.add(user.user_id)
        users.append(user)
    if not users:
        return []
    _insert_users(tenant, users)
    batch_ctx = by if by.batch_id else dataclasses.replace(by, batch_id=uuid.uuid4())
    audit.record(
        tenant=tenant,
        ctx=batch_ctx,
        action=AuditAction.USER_BULK_CREATE,
        before={},
        after={},
        details={
            "count": len(users),
            "first_user_id": users[0].user_id,
            "last_user_id": users[-1].user_id,
        },
    )
    return users


UpdateOutcome = AuditEvent | None | Refusal


def users_update_each(
    *,
    tenant: Tenant,
    items: Sequence[tuple[User, Mapping[str, Any]]],
    by: Context,
    mode: metadata.MergeMode = "merge",
) -> list[UpdateOutcome]:
    """`user_update` for many users of a tenant at once (a bulk edit's chunk, an import's
    upserts): each body is checked on its own, and the accepted ones are written together.
    Per item: its event, None when it changed nothing, or the refusal (that user is left as
    it was). If an accepted email is taken, UserExists and nothing changes. New passwords
    are hashed before the transaction opens."""
    hashes = [hash_password(body.get("password")) for _, body in items]
    with transaction.atomic():
        return _update_each(tenant, items, hashes, by, mode)


def _update_each(
    tenant: Tenant,
    items: Sequence[tuple[User, Mapping[str, Any]]],
    hashes: Sequence[str | None],
    by: Context,
    mode: metadata.MergeMode,
) -> list[UpdateOutcome]:
    rules = tenant.metadata_rules()
    pks = [user.pk for user, _ in items]
    locked = {
        user.pk: user
        for user in User.objects.select_for_update()
        .select_related("tenant", "connection")
        .filter(tenant=tenant, pk__in=pks)
        .order_by("pk")
    }
    outcomes: list[UpdateOutcome] = []
    changes: list[Change] = []
    extra = {"mode": mode} if mode != "merge" else None
    for (user, body), password_hash in zip(items, hashes, strict=True):
        current = locked.get(user.pk)
        try:
            if current is None:
                raise UserNotFound(f"The user {user.user_id} does not exist (any more).")
            guard_tiers(body, by)
            update = prepare_update(current, body, rules, mode, by)
            changes.append(Change(current, update, extra, password_hash))
            outcomes.append(None)
        except Refusal as error:
            outcomes.append(error)
    applied = apply_many(changes, by=by, action=AuditAction.USER_UPDATE)
    events = {event.target_pk: event for event in applied}
    return [
        events.get(user.pk) if outcome is None else outcome
        for (user, _), outcome in zip(items, outcomes, strict=True)
    ]
