"""The audit log: who changed what, from where, with a diff and its inverse, hash-chained.

`record()` is called by `users.services` inside the transaction of the change it records,
so a change and its event commit or roll back together. Events are never updated: on
PostgreSQL a trigger refuses UPDATE and DELETE on the table.

Chain: each event hashes `payload_digest` (sha256 of its canonical payload) together with
the tenant, its sequence number, its time and the previous event's hash. A privacy
redaction may later blank the payload but keeps `payload_digest`, so the chain verifies.
The chain hash is keyed (HMAC-SHA256 with a key derived from AUDIT_CHAIN_KEY, see
`users.audit_keys`), so rewriting an event and every hash after it needs the key, not only
the database; the chain head names its key. Anchoring and re-keying: `users.audit_chain`.
"""

from __future__ import annotations

import hashlib
import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import jsonpatch
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest
from django.utils.ipv6 import clean_ipv6_address

from users.audit_display import Change as Change  # re-exported: audit.Change, audit.describe
from users.audit_display import describe as describe
from users.audit_display import describe_patches as describe_patches
from users.audit_keys import UNKEYED, ChainKey, current_key, key_for
from users.bulk import insert_rows
from users.models import ActorKind, AuditChain, AuditEvent, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    from users.models import User

_FLOAT_EXACT = 2**53


@dataclass(frozen=True)
class Actor:
    """Who made a change: `kind` (staff, api_client, end_user, rule, import, system)."""

    kind: str
    id: str
    label: str

    @classmethod
    def for_staff(cls, staff: AbstractBaseUser | AnonymousUser) -> Actor:
        return cls(ActorKind.STAFF, str(staff.pk), staff.get_username())

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(ActorKind.SYSTEM, "", label)


@dataclass(frozen=True)
class Context:
    """Who is writing and through which channel; every service call takes one."""

    actor: Actor
    channel: str
    request_id: str = ""
    ip: str | None = None
    batch_id: uuid.UUID | None = None

    @classmethod
    def for_staff(cls, request: HttpRequest, *, channel: str) -> Context:
        """The signed-in staff member, writing through `channel` (console or admin)."""
        return cls.from_request(request, channel=channel, actor=Actor.for_staff(request.user))

    @classmethod
    def from_request(cls, request: HttpRequest, *, channel: str, actor: Actor) -> Context:
        return cls(
            actor=actor,
            channel=channel,
            request_id=getattr(request, "request_id", ""),
            ip=request.META.get("REMOTE_ADDR") or None,
        )


def make_patches(
    before: Mapping[str, Any], after: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The RFC 6902 patch from before to after, and its inverse. Creations and deletions
    (one side empty) are built directly, as jsonpatch would, without its diffing: they are
    most of an import. Their values are the profile's own objects, not copies (the event is
    written at once; nobody edits a profile in place)."""
    if not before or not after:
        keys = [(_pointer(key), value) for key, value in (after or before).items()]
        adds = [{"op": "add", "path": path, "value": value} for path, value in keys]
        removes = [{"op": "remove", "path": path} for path, _ in keys]
        return (adds, removes) if after else (removes, adds)
    forward = jsonpatch.make_patch(before, after).patch
    inverse = jsonpatch.make_patch(after, before).patch
    return forward, inverse


def _pointer(key: str) -> str:
    return "/" + str(key).replace("~", "~0").replace("/", "~1")


def _normalize_ip(ip: str | None) -> str | None:
    if ip and ":" in ip:
        return clean_ipv6_address(ip)
    return ip


@dataclass(frozen=True)
class Entry:
    """One change to record: `record_many` appends several to the chain at once."""

    action: str
    before: Mapping[str, Any]
    after: Mapping[str, Any]
    target: User | None = None
    target_user_id: str = ""
    details: Mapping[str, Any] | None = None


def record(
    *,
    tenant: Tenant,
    ctx: Context,
    action: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    target: User | None = None,
    target_user_id: str = "",
    details: Mapping[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the tenant's chain. Call inside the change's transaction."""
    entry = Entry(action, before, after, target, target_user_id, details)
    return record_many(tenant=tenant, ctx=ctx, entries=[entry])[0]


def record_many(*, tenant: Tenant, ctx: Context, entries: Sequence[Entry]) -> list[AuditEvent]:
    """Append events to the tenant's chain in order, under one lock of the chain head and
    with one INSERT. Call inside the changes' transaction."""
    chain, _ = AuditChain.objects.select_for_update().get_or_create(tenant=tenant)
    key = appending_key(chain)
    ip = _normalize_ip(ctx.ip)
    events = []
    seq, prev_hash = chain.last_seq, chain.last_hash
    for entry in entries:
        forward, inverse = make_patches(entry.before, entry.after)
        seq += 1
        target = entry.target
        event = AuditEvent(
            tenant=tenant,
            seq=seq,
            actor_kind=ctx.actor.kind,
            actor_id=ctx.actor.id,
            actor_label=ctx.actor.label,
            channel=ctx.channel,
            action=entry.action,
            target_pk=target.pk if target is not None else None,
            target_user_id=target.user_id if target is not None else entry.target_user_id,
            forward_patch=forward,
            inverse_patch=inverse,
            details=dict(entry.details or {}),
            request_id=ctx.request_id,
            ip=ip,
            batch_id=ctx.batch_id,
            prev_hash=prev_hash,
        )
        event.payload_digest = payload_digest(event)
        event.hash = prev_hash = chain_hash(event, key)
        events.append(event)
    if not events:
        return []
    if len(events) == 1:
        events[0].save(force_insert=True)
    else:
        insert_rows(events)
    chain.last_seq = seq
    chain.last_hash = prev_hash
    chain.save(update_fields=["last_seq", "last_hash"])
    return events


def appending_key(chain: AuditChain) -> ChainKey:
    """The key new events of this chain are hashed with: the one its head names (a chain
    from before keys stays unkeyed until `audit_rekey`), if it is a key this server has."""
    key = key_for(chain.key_id)
    if key is None:
        raise ImproperlyConfigured(
            f"The audit chain of tenant {chain.tenant_id} is keyed with key {chain.key_id}, "
            f"which is neither AUDIT_CHAIN_KEY (key {current_key().key_id}) nor "
            "AUDIT_CHAIN_KEY_PREVIOUS: set AUDIT_CHAIN_KEY_PREVIOUS to it, or re-key the chain "
            "with manage.py audit_rekey."
        )
    return key


# --- hashing ------------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    """Numbers as the database gives them back: PostgreSQL's jsonb turns 1e20 into an
    integer and 1.0 keeps its scale, so integral values are compared as integers below
    2**53 and as floats above."""
    kind = type(value)  # the common JSON types first, by exact type: this runs per value
    if kind is str or kind is bool or value is None:
        return value
    if kind is dict:
        return {str(key): _canonical(item) for key, item in value.items()}
    if kind is list:
        return [_canonical(item) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        if abs(value) < _FLOAT_EXACT:
            return value
        try:
            return float(value)
        except OverflowError:
            return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < _FLOAT_EXACT:
            return int(value)
        return value
    if isinstance(value, Mapping):
        return {str(key): _canonical(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return str(value)


def _canonical_bytes(data: Any) -> bytes:
    text = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _sha256(data: Any) -> str:
    return hashlib.sha256(_canonical_bytes(data)).hexdigest()


def event_payload(event: AuditEvent) -> dict[str, Any]:
    """The part of an event a redaction may later blank; hashed into `payload_digest`."""
    return {
        "actor_kind": event.actor_kind,
        "actor_id": event.actor_id,
        "actor_label": event.actor_label,
        "channel": event.channel,
        "action": event.action,
        "target_pk": event.target_pk,
        "target_user_id": event.target_user_id,
        "forward_patch": event.forward_patch,
        "inverse_patch": event.inverse_patch,
        "details": event.details,
        "request_id": event.request_id,
        "ip": event.ip,
        "batch_id": str(event.batch_id) if event.batch_id else None,
    }


def payload_digest(event: AuditEvent) -> str:
    return _sha256(event_payload(event))


def chain_hash(event: AuditEvent, key: ChainKey = UNKEYED) -> str:
    """The event's link in the chain under `key`: HMAC-SHA256 with the chain key. Without a
    key, the plain SHA-256 of chains from before keys, which anyone can recompute."""
    created_at: datetime = event.created_at
    return key.hash(
        _canonical_bytes(
            {
                "tenant": event.tenant_id,
                "seq": event.seq,
                "created_at": created_at.astimezone(UTC).isoformat(),
                "payload_digest": event.payload_digest,
                "prev_hash": event.prev_hash,
            }
        )
    )


@dataclass(frozen=True)
class ChainReport:
    """What verifying a chain found: `broken_at` the first event that does not verify, or
    `key_problem` when the chain is not keyed with the key it was verified under."""

    checked: int
    broken_at: int | None = None
    reason: str = ""
    key_problem: str = ""
    last_seq: int = 0
    last_hash: str = ""

    @property
    def ok(self) -> bool:
        return self.broken_at is None and not self.key_problem


def verify_chain(tenant: Tenant, key: ChainKey | None = None) -> ChainReport:
    """Walk the tenant's events in order under `key` (AUDIT_CHAIN_KEY unless given); report
    the first one that does not verify. A chain whose head names another key, or none (a
    chain from before keys), does not verify: anyone could have recomputed it."""
    key = key if key is not None else current_key()
    head = AuditChain.objects.filter(tenant=tenant).first()
    if head is not None and head.key_id != key.key_id:
        return ChainReport(0, key_problem=_key_problem(tenant, head, key))
    report, last_hash = _walk(tenant, key)
    if not report.ok:
        return report
    if head is None and report.checked:
        return ChainReport(report.checked, report.last_seq + 1, "the chain head is missing")
    if head is not None and (head.last_seq != report.last_seq or head.last_hash != last_hash):
        return ChainReport(
            report.checked,
            report.last_seq + 1,
            f"the chain head is at #{head.last_seq}, events end at #{report.last_seq}",
        )
    return ChainReport(report.checked, last_seq=report.last_seq, last_hash=last_hash)


def _key_problem(tenant: Tenant, head: AuditChain, key: ChainKey) -> str:
    if not head.key_id:
        return (
            "it was written before the chain was keyed (plain SHA-256, which anyone with "
            f"database access can recompute); verify and re-key it with "
            f"`manage.py audit_rekey {tenant.slug}`"
        )
    return (
        f"it is keyed with key {head.key_id}, not with {key.label}; if that is the key before "
        f"a rotation, re-key it with `manage.py audit_rekey {tenant.slug}` and the old key in "
        "AUDIT_CHAIN_KEY_PREVIOUS"
    )


def _walk(tenant: Tenant, key: ChainKey) -> tuple[ChainReport, str]:
    """The first event that does not verify, or how many did and the last one's hash."""
    prev_hash = ""
    expected_seq = 1
    checked = 0
    events = AuditEvent.objects.filter(tenant=tenant).order_by("seq")
    for event in events.iterator(chunk_size=2000):
        if event.seq != expected_seq:
            return ChainReport(checked, expected_seq, f"event #{expected_seq} is missing"), ""
        if event.prev_hash != prev_hash:
            link = f"event #{event.seq} does not link to #{event.seq - 1}"
            return ChainReport(checked, event.seq, link), ""
        if payload_digest(event) != event.payload_digest:
            return ChainReport(checked, event.seq, f"event #{event.seq} content was changed"), ""
        if chain_hash(event, key) != event.hash:
            return ChainReport(checked, event.seq, f"event #{event.seq} hash does not match"), ""
        prev_hash = event.hash
        expected_seq += 1
        checked += 1
    return ChainReport(checked, last_seq=expected_seq - 1), prev_hash


_LINK_FIELDS = ("id", "tenant_id", "seq", "created_at", "payload_digest", "prev_hash", "hash")


def rehashed(
    tenant: Tenant, key: ChainKey, *, upto: int | None = None, batch: int = 2000
) -> Iterator[list[AuditEvent]]:
    """The tenant's events in order, a batch at a time, with `prev_hash` and `hash` set (in
    memory) to what they are under `key`, each linked to the recomputed hash before it; the
    stored hashes are not read. Pages by sequence number, so the caller may save a batch
    before asking for the next. Call on a chain that verifies: gaps are not checked."""
    prev_hash, after = "", 0
    events = AuditEvent.objects.filter(tenant=tenant).order_by("seq").only(*_LINK_FIELDS)
    if upto is not None:
        events = events.filter(seq__lte=upto)
    while chunk := list(events.filter(seq__gt=after)[:batch]):
        for event in chunk:
            event.prev_hash = prev_hash
            event.hash = prev_hash = chain_hash(event, key)
        after = chunk[-1].seq
        yield chunk
