"""Saving an operator's edit of a tier as the changes they made, not as the document they
submitted: what changed between the tier as they were shown it and what they submit is
applied, key by key, to the tier as it is now. A real conflict is per key: a key they changed
that someone else changed meanwhile to another value."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from django.db import transaction

from users import metadata
from users.audit import Context
from users.models import AuditAction, User
from users.services.core import apply, guard_tiers, lock, prepare_update
from users.services.errors import ServiceError

_ABSENT = object()


@dataclasses.dataclass(frozen=True)
class KeyClash:
    """One first-level key both sides changed: what is stored now, and what was submitted
    (`None` for a key that is, or would be, absent)."""

    key: str
    theirs: Any
    mine: Any


class KeyConflict(ServiceError):
    code = "precondition_failed"
    status = 412

    def __init__(self, tier: str, clashes: list[KeyClash]) -> None:
        names = ", ".join(f"{tier}.{clash.key}" for clash in clashes)
        super().__init__(
            f"Someone else changed {names} meanwhile. Nothing was saved; choose which "
            "values to keep and save again."
        )
        self.clashes = clashes


@transaction.atomic
def user_update_tier_keys(
    *,
    user: User,
    tier: str,
    shown: Mapping[str, Any],
    edited: Mapping[str, Any],
    by: Context,
) -> User:
    """Apply what changed between `shown` (the tier as the operator saw it) and `edited`
    (what they submit) to the tier as it is now, as one first-level merge. KeyConflict, and
    nothing saved, if a key they changed has meanwhile been changed to another value."""
    if tier not in metadata.TIERS:
        raise ServiceError(f"{tier!r} is not a metadata tier.")
    changes = metadata.first_level_changes(shown, edited)
    guard_tiers({tier: changes}, by)
    locked = lock(user)
    if not changes:
        return locked
    current = getattr(locked, tier)
    clashes = [
        KeyClash(key, current.get(key), edited.get(key))
        for key in changes
        if current.get(key, _ABSENT) != shown.get(key, _ABSENT)
        and current.get(key, _ABSENT) != edited.get(key, _ABSENT)
    ]
    if clashes:
        raise KeyConflict(tier, clashes)
    rules = locked.tenant.metadata_rules()
    update = prepare_update(locked, {tier: changes}, rules, "merge", by)
    return apply(locked, update, by=by, action=AuditAction.USER_UPDATE)
