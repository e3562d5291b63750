"""Undo one recorded change as a new audited change (`user.revert`, or the create/delete
that undoes a delete/create), refusing clearly when what it touched has changed since."""

from __future__ import annotations

from typing import Any

import jsonpatch
import jsonpointer
from django.db import transaction

from users import metadata
from users.audit import Context
from users.models import DATABASE_CONNECTION, AuditAction, AuditEvent, User
from users.services.core import apply, lock
from users.services.errors import RevertConflict
from users.services.users import user_create, user_delete

_REVERTIBLE_UPDATES = frozenset(
    {
        AuditAction.USER_UPDATE,
        AuditAction.USER_BLOCK,
        AuditAction.USER_UNBLOCK,
        AuditAction.USER_REVERT,
    }
)
# Every action `audit_revert` can undo; the console shows Revert only on these.
REVERTIBLE_ACTIONS = _REVERTIBLE_UPDATES | {AuditAction.USER_CREATE, AuditAction.USER_DELETE}


def _reverted_profile(current: dict[str, Any], event: AuditEvent) -> dict[str, Any]:
    """The current profile with the event's change undone, or RevertConflict when the
    paths it touched have changed since (the event replayed on the result must give back
    exactly the current profile)."""
    touched = sorted({op["path"] for op in event.forward_patch})
    conflict = RevertConflict(
        f"Cannot revert change #{event.seq}: what it changed ({', '.join(touched)}) has "
        "changed since. Edit the user instead."
    )
    try:
        reverted = jsonpatch.apply_patch(current, event.inverse_patch)
        replayed = jsonpatch.apply_patch(reverted, event.forward_patch)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        raise conflict from None
    if replayed != current:
        raise conflict
    return reverted


def _lock_target(event: AuditEvent) -> User:
    user = User.objects.filter(pk=event.target_pk or 0, tenant_id=event.tenant_id).first()
    if user is None:
        raise RevertConflict(
            f"Cannot revert change #{event.seq}: the user {event.target_user_id} has been deleted."
        )
    return lock(user)


@transaction.atomic
def audit_revert(*, event: AuditEvent, by: Context) -> AuditEvent:
    """Undo one recorded change as a new audited change; refuses clearly on conflict."""
    tenant = event.tenant
    if event.action in _REVERTIBLE_UPDATES:
        locked = _lock_target(event)
        reverted = _reverted_profile(locked.profile(), event)
        update = metadata.apply_update(
            locked.profile(), reverted, tenant.metadata_rules(), mode="replace"
        )
        apply(locked, update, by=by, action=AuditAction.USER_REVERT, details={"reverts": event.seq})
    elif event.action == AuditAction.USER_CREATE:
        locked = _lock_target(event)
        _reverted_profile(locked.profile(), event)
        user_delete(user=locked, by=by)
    elif event.action == AuditAction.USER_DELETE:
        snapshot = _reverted_profile({}, event)
        if User.objects.filter(tenant=tenant, user_id=event.target_user_id).exists():
            raise RevertConflict(
                f"Cannot revert change #{event.seq}: a user {event.target_user_id} exists again."
            )
        body = {
            **{key: value for key, value in snapshot.items() if value is not None},
            "user_id": event.target_user_id,
            "connection": event.details.get("connection", DATABASE_CONNECTION),
        }
        user_create(tenant=tenant, body=body, by=by)
    else:
        raise RevertConflict(f"Changes of kind {event.action} cannot be reverted.")
    return AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()  # type: ignore[return-value]
