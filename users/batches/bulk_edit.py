"""Bulk edit: set (or remove) one first-level key of a tier on every user a query matches,
each user through the write path, all under one batch id so the edit can be reverted as one;
and its preview, quick at any size."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform

from users import metadata, services
from users.audit import Context
from users.batches import runner
from users.batches.runner import SAMPLE_DIFFS, BatchReport, Checkpoint, Chunk, Failure, run_chunks
from users.models import AuditEvent, Tenant, User


def bulk_edit_patch(
    tenant: Tenant, tier: str, key: str, value: Any, remove: bool
) -> dict[str, Any]:
    """The body a bulk edit applies to each user, checked against the tenant's rules."""
    if tier not in metadata.TIERS:
        raise services.ServiceError(f"{tier!r} is not a metadata tier.")
    if not remove and value is None:
        raise services.ServiceError("Give a value to set, or remove the key.")
    patch = {tier: {key: None if remove else value}}
    metadata.apply_update(metadata.empty_profile(), patch, tenant.metadata_rules())
    return patch


def _gated(tenant: Tenant, tier: str) -> bool:
    """Whether counting changes of this tier would reveal what the plan may not search."""
    return tier == metadata.APP_METADATA and not tenant.allows_app_metadata_search


def users_bulk_edit(
    *,
    tenant: Tenant,
    users: QuerySet[User],
    tier: str,
    key: str,
    value: Any = None,
    remove: bool = False,
    by: Context,
    dry_run: bool = False,
    resume: BatchReport | None = None,
    after_pk: int = 0,
    checkpoint: Checkpoint[BatchReport, int] | None = None,
) -> BatchReport:
    """Apply the edit to every given user, in id order, a chunk of users per transaction;
    after each chunk `checkpoint` gets the last id done, so an interrupted edit goes on with
    `after_pk` and `resume` (same batch id). A user whose update is refused is reported and
    left as it was; a dry run rolls back."""
    patch = bulk_edit_patch(tenant, tier, key, value, remove)
    report = resume or BatchReport(
        dry_run=dry_run, batch_id=str(uuid.uuid4()), changed_hidden=_gated(tenant, tier)
    )
    ctx = dataclasses.replace(by, batch_id=uuid.UUID(report.batch_id))

    def next_chunk(last: int) -> Chunk[int, int] | None:
        # By id, not a live cursor (rows are rewritten as we go, which a cursor on SQLite may
        # not survive); locked together, in id order like every batch.
        pending = users.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
        ids = list(pending[: runner.BATCH_CHUNK])
        return Chunk(ids, ids[-1]) if ids else None

    def work(ids: Sequence[int]) -> list[Failure]:
        return _edit_chunk(tenant, ids, patch, ctx, report)

    return run_chunks(
        report,
        kind="bulk_edit",
        start=after_pk,
        next_chunk=next_chunk,
        work=work,
        checkpoint=checkpoint,
    )


def _edit_chunk(
    tenant: Tenant, ids: Sequence[int], patch: dict[str, Any], ctx: Context, report: BatchReport
) -> list[Failure]:
    """Apply the patch to a chunk of users, written together; a user the rules refuse is
    reported and left as it was."""
    users = list(
        User.objects.filter(tenant=tenant, pk__in=ids).only("pk", "user_id").order_by("pk")
    )
    outcomes = services.users_update_each(
        tenant=tenant, items=[(user, patch) for user in users], by=ctx
    )
    failures: list[Failure] = []
    for user, outcome in zip(users, outcomes, strict=True):
        report.matched += 1
        if isinstance(outcome, AuditEvent):
            report.changed += 1
            if len(report.samples) < SAMPLE_DIFFS:
                report.samples.append({"user_id": user.user_id, "event": outcome})
        elif outcome is not None:
            report.fail({"user_id": user.user_id, "message": outcome.message}, failures)
    return failures


def users_bulk_edit_preview(
    *,
    tenant: Tenant,
    users: QuerySet[User],
    tier: str,
    key: str,
    value: Any = None,
    remove: bool = False,
    by: Context,
) -> BatchReport:
    """What a bulk edit would do, quickly at any size: how many users match, how many would
    change (those whose key is not already the value, or that have the key to remove), and
    the diffs of the first few, from a dry run of just those. Writes nothing."""
    bulk_edit_patch(tenant, tier, key, value, remove)
    if _gated(tenant, tier):
        # Counting (or sampling) the users whose app_metadata already has the value would
        # search app_metadata: the first users matched, whatever their values, instead.
        changing = users
    elif remove:
        changing = users.filter(**{f"{tier}__has_key": key})
    else:
        same = users.alias(bulk_current=KeyTransform(key, tier)).filter(bulk_current=value)
        changing = users.exclude(pk__in=same.values("pk"))
    first = list(changing.order_by("pk").values_list("pk", flat=True)[:SAMPLE_DIFFS])
    sampled = users_bulk_edit(
        tenant=tenant,
        users=User.objects.filter(pk__in=first),
        tier=tier,
        key=key,
        value=value,
        remove=remove,
        by=by,
        dry_run=True,
    )
    matched = users.count()
    return BatchReport(
        matched=matched,
        changed=matched if changing is users else changing.count(),
        changed_hidden=changing is users and _gated(tenant, tier),
        dry_run=True,
        samples=sampled.samples,
        failures=sampled.failures,
        failed=sampled.failed,
    )
