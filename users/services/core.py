"""The steps every single-user write shares: lock the row, check the expected version, check
the tier rule and the rules of `users.metadata`, assign, save with `version + 1`, rewrite the
search leaves and record one audit event per changed user, all in the caller's transaction.

A new password is the exception: `hash_password` makes its hash BEFORE the transaction opens
(see there), and `assign` only stores that hash.

The functions here are the write path's parts, used by the other service modules; views and
jobs call the `user_*` and `users_*` services instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.hashers import make_password
from django.db import IntegrityError, transaction
from django.utils import timezone

from users import audit, metadata
from users.audit import Context
from users.models import ActorKind, AuditEvent, Channel, Connection, Strategy, User
from users.services.errors import (
    NotWritable,
    ServiceError,
    UserExists,
    UserNotFound,
    VersionConflict,
)
from users.services.leaves import leaves_rewrite

# Profile data from these channels is stripped of deny-listed attributes (SPEC.md section 9);
# an explicit write from any other channel is refused instead.
STRIPPING_CHANNELS = frozenset({Channel.SIGNUP, Channel.IMPORT, Channel.RULE})
# The end user may never write app_metadata, whatever the channel.
END_USER_CHANNELS = frozenset({Channel.SIGNUP, Channel.PROFILE})


def guard_tiers(body: Mapping[str, Any], by: Context) -> None:
    """Refuse a body with `app_metadata` from the end user, whatever the channel."""
    if metadata.APP_METADATA in body and (
        by.actor.kind == ActorKind.END_USER or by.channel in END_USER_CHANNELS
    ):
        raise NotWritable(
            "app_metadata can never be changed by the end user; only staff admins, "
            "API clients with update:users and rules may change it."
        )


def on_denied(by: Context) -> metadata.DeniedMode:
    return "strip" if by.channel in STRIPPING_CHANNELS else "refuse"


def lock(user: User) -> User:
    """The user's row, locked until the transaction ends; UserNotFound if it is gone."""
    try:
        return (
            User.objects.select_for_update().select_related("tenant", "connection").get(pk=user.pk)
        )
    except User.DoesNotExist:
        raise UserNotFound(f"The user {user.user_id} does not exist (any more).") from None


def check_version(user: User, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != user.version:
        raise VersionConflict(expected=expected_version, current=user.version)


def _normalize_email(email: str | None, connection: Connection) -> str | None:
    if email is not None and connection.strategy == Strategy.DATABASE:
        return email.lower()
    return email


def check_email_free(email: str | None, connection: Connection, *, exclude_pk: int | None) -> None:
    if email is None:
        return
    clash = User.objects.filter(connection=connection, email__lower=email.lower())
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise UserExists(f"A user with the email {email} already exists in {connection.name}.")


def hash_password(password: object) -> str | None:
    """The stored form of a new password (None when there is none to set), for `assign`.

    The one place passwords are hashed, and it must run BEFORE the write's transaction
    opens, never inside it: a hasher is slow on purpose (0.3-0.4 s), and on SQLite an open
    write transaction holds the database's one write lock, so every other writer would wait
    that long per password (and time out: "database is locked"). A value the rules refuse
    (not a string) is not hashed; the rules refuse it later."""
    return make_password(password) if isinstance(password, str) else None


class PasswordNotHashed(Exception):
    """A bug: an update sets a password that `hash_password` did not hash beforehand."""


def assign(user: User, update: metadata.Update, password_hash: str | None = None) -> None:
    """Put an update's profile on the user, unsaved, and its new password as `password_hash`
    (made by `hash_password` before the transaction)."""
    if update.password is not None:
        if password_hash is None:
            raise PasswordNotHashed("Hash the password with hash_password, before the transaction.")
        user.password = password_hash
    for key, value in update.profile.items():
        setattr(user, key, value)
    user.email = _normalize_email(user.email, user.connection)


def save(user: User, *, creating: bool, unique_changed: bool = True) -> None:
    """Save, turning a clash on a unique field into UserExists. When no unique field
    changed (an update that leaves the email alone) nothing can clash: no savepoint."""
    if not unique_changed:
        user.save()
        return
    try:
        with transaction.atomic():
            user.save(force_insert=creating)
    except IntegrityError:
        if (
            User.objects.filter(tenant=user.tenant, user_id=user.user_id)
            .exclude(pk=user.pk)
            .exists()
        ):
            raise UserExists(f"A user with the user_id {user.user_id} already exists.") from None
        raise UserExists(
            f"A user with the email {user.email} already exists in {user.connection.name}."
        ) from None


def details(update: metadata.Update, **extra: Any) -> dict[str, Any]:
    """An event's details: the given extras that are set, what the deny list dropped, and
    whether the password changed (never the password)."""
    out: dict[str, Any] = {key: value for key, value in extra.items() if value}
    if update.dropped:
        out["dropped"] = list(update.dropped)
    if update.password is not None:
        out["password_changed"] = True
    return out


def prepare_update(
    locked: User,
    body: Mapping[str, Any],
    rules: metadata.Rules,
    mode: metadata.MergeMode,
    by: Context,
) -> metadata.Update:
    """The update a body makes to a locked user, checked by the rules; writes nothing."""
    update = metadata.apply_update(
        locked.profile(), body, rules, mode=mode, on_denied=on_denied(by)
    )
    if update.connection is not None and update.connection != locked.connection.name:
        raise ServiceError(
            f"This user belongs to {locked.connection.name!r}, not {update.connection!r}; "
            "a user cannot move between connections."
        )
    return update


@dataclasses.dataclass(frozen=True)
class Change:
    """One locked user and the update to apply to it (for `apply_many`), with the hash of the
    update's new password, if it has one (`hash_password`, before the transaction)."""

    user: User
    update: metadata.Update
    details: Mapping[str, Any] | None = None
    password_hash: str | None = None


def apply(
    locked: User,
    update: metadata.Update,
    *,
    by: Context,
    action: str,
    details: Mapping[str, Any] | None = None,
    password_hash: str | None = None,
) -> User:
    apply_many([Change(locked, update, details, password_hash)], by=by, action=action)
    return locked


def apply_many(changes: Sequence[Change], *, by: Context, action: str) -> list[AuditEvent]:
    """Apply updates to locked users of one tenant: assign, version + 1, save, rewrite the
    search leaves of the tiers that changed, and record one event each. Users an update
    leaves as they were are not touched. One user is saved as itself; many (a bulk edit's
    chunk) in one UPDATE, with their leaves and events also written together."""
    applied: list[tuple[User, dict[str, Any], dict[str, Any], Change]] = []
    for change in changes:
        locked = change.user
        before = locked.profile()
        assign(locked, change.update, change.password_hash)
        after = locked.profile()
        if before == after and change.update.password is None:
            continue
        email_changed = after.get("email") != before.get("email")
        if email_changed:
            check_email_free(locked.email, locked.connection, exclude_pk=locked.pk)
        locked.version += 1
        locked.updated_at = timezone.now()
        if len(changes) == 1:
            save(locked, creating=False, unique_changed=email_changed)
        applied.append((locked, before, after, change))
    if not applied:
        return []
    if len(changes) > 1:
        _update_together(applied)
    leaves_rewrite(
        [
            (user, [tier for tier in metadata.TIERS if before[tier] != after[tier]])
            for user, before, after, _ in applied
        ]
    )
    return audit.record_many(
        tenant=applied[0][0].tenant,
        ctx=by,
        entries=[
            audit.Entry(
                action=action,
                before=before,
                after=after,
                target=user,
                details={**details(change.update), **(change.details or {})},
            )
            for user, before, after, change in applied
        ],
    )


def _update_together(
    applied: Sequence[tuple[User, dict[str, Any], dict[str, Any], Change]],
) -> None:
    """One UPDATE for many changed users, of just the fields that changed."""
    fields = {"version", "updated_at"} | {
        name for _, before, after, _ in applied for name in before if before[name] != after[name]
    }
    if any(change.update.password is not None for *_, change in applied):
        fields.add("password")
    try:
        with transaction.atomic():
            User.objects.bulk_update([user for user, *_ in applied], sorted(fields))
    except IntegrityError:
        raise UserExists("An email in this batch is taken; nothing was changed.") from None
