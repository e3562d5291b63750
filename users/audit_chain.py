"""Anchoring a tenant's audit chain outside the database, and re-keying it.

Anchor: `anchor(tenant)` verifies the chain and signs its head as a `Checkpoint`, one line
an operator keeps elsewhere. `check_anchor(tenant, text)` says what no longer matches such a
checkpoint: another tenant's, the tail cut below it, or the events up to it rewritten (the
chain's hash at the checkpoint's event is recomputed from the stored events, under the key
that signed the checkpoint, so a checkpoint signed before a key rotation still checks while
AUDIT_CHAIN_KEY_PREVIOUS holds the old key).

Re-key: `rekey(tenant, by=...)` verifies the chain under the key its head names (none for a
chain from before keys, or a previous key) and only then re-hashes every event under
AUDIT_CHAIN_KEY, in one transaction holding the chain head, and records an `audit.rekey`
event. On PostgreSQL the append-only trigger lets exactly that UPDATE through: `hash` and
`prev_hash` of this tenant's events, while `users.audit_rekey_tenant` is set for the
transaction (SET LOCAL), which only this module does.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from users.audit import Context, record, rehashed, verify_chain
from users.audit_keys import (
    ChainKey,
    Checkpoint,
    current_key,
    key_for,
    known_keys,
    read_checkpoint,
)
from users.errors import Refusal
from users.models import AuditAction, AuditChain, AuditEvent, Tenant


class ChainRefusal(Refusal):
    """An anchor or a re-key refused because of the state of the chain; nothing changed."""


# --- anchoring ----------------------------------------------------------------------------


def anchor(tenant: Tenant) -> Checkpoint:
    """A checkpoint of the tenant's chain head, once the whole chain verifies under
    AUDIT_CHAIN_KEY. Holds the chain head meanwhile, so the head it signs is the one
    verified."""
    key = current_key()
    with transaction.atomic():
        AuditChain.objects.select_for_update().filter(tenant=tenant).first()
        report = verify_chain(tenant, key)
    if not report.ok:
        problem = report.key_problem or f"event #{report.broken_at}: {report.reason}"
        raise ChainRefusal(f"The audit chain of {tenant.slug} does not verify ({problem}).")
    return Checkpoint(
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        seq=report.last_seq,
        hash=report.last_hash,
        at=timezone.now(),
        key_id=key.key_id,
    )


@dataclass(frozen=True)
class AnchorCheck:
    """A checkpoint read back (its signature verified), and what no longer matches it."""

    checkpoint: Checkpoint
    signed_with: ChainKey
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem


def check_anchor(tenant: Tenant, text: str) -> AnchorCheck:
    """Check the tenant's chain against a checkpoint; `CheckpointError` if the checkpoint
    itself is unreadable, forged or altered."""
    checkpoint, key = read_checkpoint(text, known_keys())
    return AnchorCheck(checkpoint, key, _anchor_problem(tenant, checkpoint, key))


def _anchor_problem(tenant: Tenant, checkpoint: Checkpoint, key: ChainKey) -> str:
    if checkpoint.tenant_id != tenant.pk:
        return f"the checkpoint is of tenant {checkpoint.tenant_slug!r}, not of {tenant.slug!r}"
    seq = checkpoint.seq
    events = AuditEvent.objects.filter(tenant=tenant)
    head = AuditChain.objects.filter(tenant=tenant).first()
    last_event = events.order_by("-seq").values_list("seq", flat=True).first() or 0
    ends_at = min(last_event, head.last_seq if head is not None else 0)
    if ends_at < seq:
        return (
            f"the tail was cut: the checkpoint is at event #{seq}, the chain now ends at "
            f"#{ends_at} (events up to #{last_event}, head at "
            f"#{head.last_seq if head is not None else 0})"
        )
    present = events.filter(seq__gte=1, seq__lte=seq).count()
    if present != seq:
        return f"events up to the checkpoint's #{seq} were cut: {seq - present} of them are missing"
    if _hash_at(tenant, key, seq) != checkpoint.hash:
        return (
            f"the events up to #{seq} were rewritten: the chain's hash at event #{seq} is no "
            "longer the checkpoint's"
        )
    return ""


def _hash_at(tenant: Tenant, key: ChainKey, seq: int) -> str:
    """The chain's hash at event `seq`, recomputed from the stored events under `key`."""
    last = ""
    for batch in rehashed(tenant, key, upto=seq):
        last = batch[-1].hash
    return last


# --- re-keying ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Rekeyed:
    """What `rekey` did: `events` re-hashed from `old` to `new` (0 when already keyed)."""

    tenant: Tenant
    events: int
    old: ChainKey | None
    new: ChainKey

    @property
    def changed(self) -> bool:
        return self.old is not None


def rekey(tenant: Tenant, *, by: Context, old_keys: list[ChainKey] | None = None) -> Rekeyed:
    """Re-hash the tenant's chain under AUDIT_CHAIN_KEY after verifying it under the key its
    head names: none (a chain from before keys), AUDIT_CHAIN_KEY_PREVIOUS, or one of
    `old_keys`. Refuses (`ChainRefusal`, nothing changed) when that key is not at hand or
    the chain does not verify under it. A chain already under AUDIT_CHAIN_KEY is left as it
    is (it must verify)."""
    new = current_key()
    with transaction.atomic():
        head = AuditChain.objects.select_for_update().filter(tenant=tenant).first()
        if head is None:
            return Rekeyed(tenant, 0, None, new)
        old = _old_key(tenant, head, [*(old_keys or []), *known_keys()])
        report = verify_chain(tenant, old)
        if not report.ok:
            raise ChainRefusal(
                f"Refusing to re-key {tenant.slug}: its chain does not verify under "
                f"{old.label} (event #{report.broken_at}: {report.reason}; "
                f"{report.checked} events verified before it). Nothing was changed."
            )
        if old.key_id == new.key_id:
            return Rekeyed(tenant, 0, None, new)
        head.last_hash = _rewrite_hashes(tenant, new)
        head.key_id = new.key_id
        head.save(update_fields=["key_id", "last_hash"])
        _record_rekey(tenant, by, old, new, report.checked, report.last_hash)
    return Rekeyed(tenant, report.checked, old, new)


def _old_key(tenant: Tenant, head: AuditChain, keys: list[ChainKey]) -> ChainKey:
    old = key_for(head.key_id, keys=keys)
    if old is None:
        raise ChainRefusal(
            f"Refusing to re-key {tenant.slug}: its chain is keyed with key {head.key_id}, "
            f"which is not at hand (AUDIT_CHAIN_KEY is key {current_key().key_id}). Set "
            "AUDIT_CHAIN_KEY_PREVIOUS (or pass --old-key) to the key it was written with."
        )
    return old


def _rewrite_hashes(tenant: Tenant, key: ChainKey) -> str:
    """UPDATE every event's `prev_hash` and `hash` to the chain under `key`; the new head."""
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    sql = f"UPDATE {table} SET prev_hash = %s, hash = %s WHERE id = %s"
    last = ""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Read by the append-only trigger; SET LOCAL: gone at the end of the transaction.
            cursor.execute(
                "SELECT set_config('users.audit_rekey_tenant', %s, true)", [str(tenant.pk)]
            )
        for batch in rehashed(tenant, key):
            cursor.executemany(sql, [(event.prev_hash, event.hash, event.pk) for event in batch])
            last = batch[-1].hash
        if connection.vendor == "postgresql":
            cursor.execute("SELECT set_config('users.audit_rekey_tenant', '', true)")
    return last


def _record_rekey(
    tenant: Tenant, by: Context, old: ChainKey, new: ChainKey, events: int, old_head: str
) -> None:
    record(
        tenant=tenant,
        ctx=by,
        action=AuditAction.AUDIT_REKEY,
        before={},
        after={},
        details={
            "from_key_id": old.key_id,
            "to_key_id": new.key_id,
            "events": events,
            "previous_head": old_head,
        },
    )
