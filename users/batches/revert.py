"""Batch revert: undo every change of a batch (an import, a bulk edit, an earlier revert),
newest first, each on its own through `services.audit_revert`; changes that conflict are
reported and left alone. The reverts form a new batch, so they can be reverted too."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence

from django.db import transaction

from users import services
from users.audit import Context
from users.batches import runner
from users.batches.runner import BatchReport, Checkpoint, Chunk, Failure, run_chunks
from users.errors import Refusal
from users.models import AuditEvent, Tenant
from users.selectors import batch_events


def audit_revert_batch(
    *,
    tenant: Tenant,
    batch_id: uuid.UUID,
    by: Context,
    resume: BatchReport | None = None,
    before_seq: int | None = None,
    checkpoint: Checkpoint[BatchReport, int | None] | None = None,
) -> BatchReport:
    """Revert the batch a chunk of changes per transaction; `checkpoint` gets the last seq
    done, so an interrupted revert goes on with `before_seq` and `resume`."""
    events = batch_events(tenant, batch_id)
    if resume is None and not events.exists():
        raise services.RevertConflict("No changes have that batch id.")
    report = resume or BatchReport(batch_id=str(uuid.uuid4()))
    ctx = dataclasses.replace(by, batch_id=uuid.UUID(report.batch_id))

    def next_chunk(before: int | None) -> Chunk[AuditEvent, int | None] | None:
        pending = events.filter(seq__lt=before) if before is not None else events
        chunk = list(pending.order_by("-seq")[: runner.BATCH_CHUNK])
        return Chunk(chunk, chunk[-1].seq) if chunk else None

    def work(chunk: Sequence[AuditEvent]) -> list[Failure]:
        failures: list[Failure] = []
        for event in chunk:
            report.matched += 1
            try:
                with transaction.atomic():
                    services.audit_revert(event=event, by=ctx)
            except Refusal as error:
                failure = {"seq": event.seq, "user_id": event.target_user_id}
                report.fail({**failure, "message": error.message}, failures)
            else:
                report.changed += 1
        return failures

    return run_chunks(
        report,
        kind="revert",
        start=before_seq,
        next_chunk=next_chunk,
        work=work,
        checkpoint=checkpoint,
    )
