"""The keyed audit chain: tampering by a database writer, anchors kept elsewhere, TRUNCATE,
re-keying from the unkeyed scheme and from a previous key."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core import signing
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.factories import TenantFactory
from tests.helpers import events, on_postgres
from tests.users.test_audit import append_only_lifted
from users import services
from users.audit import Context, chain_hash, payload_digest, verify_chain
from users.audit_keys import UNKEYED, ChainKey, Checkpoint, current_key
from users.models import AuditChain, AuditEvent, Tenant, User

pytestmark = pytest.mark.django_db

OLD_SECRET = "the-key-before-the-rotation-0123456789abcdef"
NEW_SECRET = "the-key-after-the-rotation-fedcba9876543210"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def anchor(tenant: Tenant) -> str:
    return run("audit_anchor", tenant.slug).splitlines()[-1]


_VALUES = itertools.count()


def _history(user: User, ctx: Context, n: int = 4) -> None:
    """`n` more events, each a change."""
    for _ in range(n):
        services.user_update(user=user, body={"user_metadata": {"n": next(_VALUES)}}, by=ctx)


def _rechain(tenant: Tenant, key: ChainKey, *, from_seq: int = 1) -> None:
    """What a database writer does after changing an event: recompute the payload digests
    and every hash from `from_seq` on with the project's own functions (under `key`), and
    move the chain head."""
    prev = ""
    with append_only_lifted():
        for event in events(tenant):
            if event.seq >= from_seq:
                event.payload_digest = payload_digest(event)
                event.prev_hash = prev
                event.hash = chain_hash(event, key)
                AuditEvent.objects.filter(pk=event.pk).update(
                    payload_digest=event.payload_digest, prev_hash=prev, hash=event.hash
                )
            prev = event.hash
    AuditChain.objects.filter(tenant=tenant).update(last_hash=prev)


def _rewrite(tenant: Tenant, seq: int, key: ChainKey) -> None:
    with append_only_lifted():
        AuditEvent.objects.filter(tenant=tenant, seq=seq).update(
            forward_patch=[{"op": "add", "path": "/user_metadata/n", "value": "forged"}]
        )
    _rechain(tenant, key, from_seq=seq)


def _cut_tail(tenant: Tenant, keep: int) -> None:
    """Delete the events after `keep` and move the chain head back to it."""
    with append_only_lifted():
        AuditEvent.objects.filter(tenant=tenant, seq__gt=keep).delete()
    last = AuditEvent.objects.get(tenant=tenant, seq=keep)
    AuditChain.objects.filter(tenant=tenant).update(last_seq=keep, last_hash=last.hash)


def _verify_fails(tenant: Tenant, *args: str, match: str) -> str:
    with pytest.raises(CommandError, match=match) as failure:
        run("audit_verify", tenant.slug, *args)
    return str(failure.value)


# --- a database writer without the key ----------------------------------------------------


def test_history_rewritten_and_rehashed_without_the_key_does_not_verify(
    user: User, ctx: Context
) -> None:
    _history(user, ctx)
    tenant = user.tenant
    _rewrite(tenant, 4, UNKEYED)
    report = verify_chain(tenant)
    assert (report.ok, report.broken_at) == (False, 4)
    _verify_fails(tenant, match=r"BROKEN at event #4: event #4 hash does not match")


def test_downgrading_the_chain_to_the_unkeyed_scheme_does_not_verify(
    user: User, ctx: Context
) -> None:
    _history(user, ctx)
    tenant = user.tenant
    _rewrite(tenant, 4, UNKEYED)
    AuditChain.objects.filter(tenant=tenant).update(key_id="")
    assert not verify_chain(tenant).ok
    _verify_fails(tenant, match="cannot be verified: it was written before the chain was keyed")
    AuditChain.objects.filter(tenant=tenant).update(key_id="0123456789abcdef")
    _verify_fails(tenant, match="keyed with key 0123456789abcdef, not with key")


# --- a database writer with the key: the anchor -------------------------------------------


def test_history_rewritten_with_the_key_verifies_but_not_against_an_earlier_anchor(
    user: User, ctx: Context
) -> None:
    _history(user, ctx)
    tenant = user.tenant
    checkpoint = anchor(tenant)
    head = events(tenant)[-1].seq
    _history(user, ctx, n=2)  # the chain goes on after the anchor
    _rewrite(tenant, 4, current_key())
    assert verify_chain(tenant).ok  # a writer with the key can do anything: hence anchors
    assert "verifies" in run("audit_verify", tenant.slug)
    message = _verify_fails(tenant, "--anchor", checkpoint, match=r"does NOT match")
    assert f"the events up to #{head} were rewritten" in message
    assert f"at event #{head}" in message


def test_changes_after_the_anchor_are_not_its_business(user: User, ctx: Context) -> None:
    _history(user, ctx)
    tenant = user.tenant
    checkpoint = anchor(tenant)
    head = events(tenant)[-1].seq
    _history(user, ctx, n=2)
    _rewrite(tenant, head + 1, current_key())
    out = run("audit_verify", tenant.slug, "--anchor", checkpoint)
    assert "It matches the checkpoint of" in out
    assert f"at event #{head}" in out


def test_a_cut_tail_is_caught_by_an_anchor_taken_before(user: User, ctx: Context) -> None:
    _history(user, ctx)
    tenant = user.tenant
    checkpoint = anchor(tenant)
    head = events(tenant)[-1].seq
    _cut_tail(tenant, keep=head - 2)
    assert verify_chain(tenant).ok  # a shorter chain is a valid chain
    message = _verify_fails(tenant, "--anchor", checkpoint, match="the tail was cut")
    assert f"the checkpoint is at event #{head}, the chain now ends at #{head - 2}" in message


def test_a_cut_tail_grown_again_is_a_rewrite(user: User, ctx: Context) -> None:
    _history(user, ctx)
    tenant = user.tenant
    checkpoint = anchor(tenant)
    head = events(tenant)[-1].seq
    _cut_tail(tenant, keep=head - 2)
    _history(user, ctx, n=3)
    assert verify_chain(tenant).ok
    _verify_fails(tenant, "--anchor", checkpoint, match=f"the events up to #{head} were rewritten")


def test_events_deleted_without_moving_the_head(user: User, ctx: Context) -> None:
    _history(user, ctx)
    tenant = user.tenant
    checkpoint = anchor(tenant)
    head = events(tenant)[-1].seq
    with append_only_lifted():
        AuditEvent.objects.filter(tenant=tenant, seq__gte=head - 1).delete()
    message = _verify_fails(tenant, "--anchor", checkpoint, match="chain head is at")
    assert "the tail was cut" in message


# --- the checkpoint itself ----------------------------------------------------------------


def test_audit_anchor_prints_the_checkpoint_as_its_last_line(user: User, ctx: Context) -> None:
    _history(user, ctx)
    tenant = user.tenant
    out = run("audit_anchor", tenant.slug)
    line = out.splitlines()[-1]
    assert line.isprintable()
    assert " " not in line
    assert out.endswith(line + "\n")
    anchor_secret = current_key().anchor_secret
    assert anchor_secret is not None
    payload = signing.loads(line, key=anchor_secret.hex(), salt="users.audit_keys.checkpoint")
    last = events(tenant)[-1]
    assert payload["tenant"] == tenant.slug
    assert payload["tenant_id"] == tenant.pk
    assert (payload["seq"], payload["hash"]) == (last.seq, last.hash)
    assert payload["key_id"] == current_key().key_id
    assert payload["at"]
    out = run("audit_verify", tenant.slug, "--anchor", line)
    assert f"Audit chain of acme verifies: {last.seq} events." in out
    assert "It matches the checkpoint of" in out


def test_audit_anchor_refuses_a_chain_that_does_not_verify(user: User, ctx: Context) -> None:
    _history(user, ctx)
    with append_only_lifted():
        AuditEvent.objects.filter(tenant=user.tenant, seq=3).update(actor_label="someone")
    with pytest.raises(CommandError, match=r"does not verify \(event #3: event #3 content"):
        run("audit_anchor", user.tenant.slug)


def _tampered_payload(checkpoint: str, **changes: Any) -> str:
    """The checkpoint with its readable part changed and its signature kept."""
    body, rest = checkpoint.split(":", 1)
    payload = json.loads(signing.b64_decode(body.encode()))
    payload.update(changes)
    text = json.dumps(payload, separators=(",", ":")).encode()
    return signing.b64_encode(text).decode() + ":" + rest


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda cp: cp[:-2] + ("AA" if not cp.endswith("AA") else "BB"), id="sig"),
        pytest.param(lambda cp: _tampered_payload(cp, seq=2), id="seq"),
        pytest.param(lambda cp: _tampered_payload(cp, hash="0" * 64), id="hash"),
        pytest.param(
            lambda cp: ChainKey.from_secret("an attacker's own key").sign(
                json.loads(signing.b64_decode(cp.split(":", 1)[0].encode()))
            ),
            id="other-key",
        ),
    ],
)
def test_a_forged_or_altered_checkpoint_fails(user: User, ctx: Context, forge: Any) -> None:
    _history(user, ctx)
    checkpoint = anchor(user.tenant)
    _verify_fails(user.tenant, "--anchor", forge(checkpoint), match="signature does not verify")


@pytest.mark.parametrize("junk", ["", "not a checkpoint", "eyJ4Ijox:abc", "::::"])
def test_junk_is_not_a_checkpoint(user: User, junk: str) -> None:
    _verify_fails(user.tenant, "--anchor", junk, match="Bad checkpoint for acme")


def test_another_tenants_checkpoint_fails(user: User, ctx: Context) -> None:
    other = TenantFactory.create(slug="globex")
    checkpoint = anchor(other)
    _verify_fails(user.tenant, "--anchor", checkpoint, match="the checkpoint is of tenant 'globex'")


# --- TRUNCATE -----------------------------------------------------------------------------


@pytest.mark.postgres
@on_postgres
@pytest.mark.parametrize(
    "statement",
    [
        "TRUNCATE users_auditevent",
        "TRUNCATE users_tenant CASCADE",
        "TRUNCATE users_auditevent, users_auditchain",
    ],
)
def test_postgres_refuses_truncate_of_events(user: User, statement: str) -> None:
    count = AuditEvent.objects.count()
    with (
        pytest.raises(DatabaseError, match="append-only: TRUNCATE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # or: "pending trigger events"
        cursor.execute(statement)
    assert AuditEvent.objects.count() == count


@pytest.mark.postgres
@on_postgres
def test_postgres_lets_only_the_rekey_update_through(user: User, ctx: Context) -> None:
    """The trigger's one opening: hashes of the tenant named for the transaction."""
    event = events(user.tenant)[-1]
    other = TenantFactory.create(slug="globex")
    table = "users_auditevent"

    def update(setting: str, assignment: str) -> None:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT set_config('users.audit_rekey_tenant', %s, true)", [setting])
            cursor.execute(f"UPDATE {table} SET {assignment} WHERE id = %s", [event.pk])

    for setting, assignment in [
        (str(other.pk), "hash = 'x'"),
        (str(user.tenant.pk), "action = 'user.nothing'"),
        (str(user.tenant.pk), "hash = 'x', actor_label = 'someone'"),
        ("", "hash = 'x'"),
    ]:
        with pytest.raises(DatabaseError, match="append-only: UPDATE"):
            update(setting, assignment)
    with (
        pytest.raises(DatabaseError, match="append-only: DELETE"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "SELECT set_config('users.audit_rekey_tenant', %s, true)", [str(user.tenant.pk)]
        )
        cursor.execute(f"DELETE FROM {table} WHERE id = %s", [event.pk])
    update(str(user.tenant.pk), "hash = 'x'")
    event.refresh_from_db()
    assert event.hash == "x"
    assert event.action == "user.create"


# --- re-keying ----------------------------------------------------------------------------


def _make_unkeyed(tenant: Tenant) -> None:
    """The tenant's chain as it was before keys (what migration 0011 leaves behind)."""
    AuditChain.objects.filter(tenant=tenant).update(key_id="")
    _rechain(tenant, UNKEYED)


def test_a_chain_from_before_keys_is_rekeyed_after_verifying(user: User, ctx: Context) -> None:
    tenant = user.tenant
    _history(user, ctx)
    _make_unkeyed(tenant)
    _history(user, ctx, n=1)  # appended unkeyed, as the chain head says
    assert verify_chain(tenant, UNKEYED).ok
    _verify_fails(tenant, match="written before the chain was keyed")
    with pytest.raises(CommandError, match="does not verify"):
        run("audit_anchor", tenant.slug)
    count = len(events(tenant))
    out = run("audit_rekey", tenant.slug)
    assert f"Re-keyed the audit chain of acme: {count} events verified under the unkeyed" in out
    chain = events(tenant)
    rekey = chain[-1]
    assert (len(chain), rekey.action, rekey.channel) == (count + 1, "audit.rekey", "cli")
    assert rekey.details["from_key_id"] == ""
    assert rekey.details["to_key_id"] == current_key().key_id
    assert rekey.details["events"] == count
    assert AuditChain.objects.get(tenant=tenant).key_id == current_key().key_id
    assert "verifies: " in run("audit_verify", tenant.slug)
    _history(user, ctx, n=1)
    assert verify_chain(tenant).ok
    # Re-keying again changes nothing.
    assert "already keyed" in run("audit_rekey", tenant.slug)
    assert len(events(tenant)) == count + 2


def test_rekeying_refuses_a_chain_that_does_not_verify(user: User, ctx: Context) -> None:
    tenant = user.tenant
    _history(user, ctx)
    _make_unkeyed(tenant)
    with append_only_lifted():
        AuditEvent.objects.filter(tenant=tenant, seq=3).update(actor_label="someone")
    before = [(e.seq, e.prev_hash, e.hash) for e in events(tenant)]
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 audit chain\\(s\\) not re-keyed: acme"):
        call_command("audit_rekey", tenant.slug, stdout=io.StringIO(), stderr=err)
    assert "Refusing to re-key acme: its chain does not verify under the unkeyed" in err.getvalue()
    assert "event #3: event #3 content was changed" in err.getvalue()
    assert [(e.seq, e.prev_hash, e.hash) for e in events(tenant)] == before
    assert AuditChain.objects.get(tenant=tenant).key_id == ""


def test_rekey_all_rekeys_what_verifies_and_reports_the_rest(user: User, ctx: Context) -> None:
    good = TenantFactory.create(slug="globex")
    _make_unkeyed(good)
    _make_unkeyed(user.tenant)
    _cut_tail(user.tenant, keep=1)
    AuditChain.objects.filter(tenant=user.tenant).update(last_seq=5)
    with pytest.raises(CommandError, match=r"not re-keyed: acme\."):
        run("audit_rekey", "--all")
    assert verify_chain(good).ok
    assert AuditChain.objects.get(tenant=user.tenant).key_id == ""


def test_rotating_the_key(user: User, ctx: Context, settings: Any) -> None:
    tenant = user.tenant
    settings.AUDIT_CHAIN_KEY = OLD_SECRET
    chain_key_old = current_key()
    AuditChain.objects.filter(tenant=tenant).update(key_id=chain_key_old.key_id)
    _rechain(tenant, chain_key_old)
    _history(user, ctx)
    old_checkpoint = anchor(tenant)

    settings.AUDIT_CHAIN_KEY = NEW_SECRET
    message = _verify_fails(tenant, match="cannot be verified")
    assert f"keyed with key {chain_key_old.key_id}, not with key {current_key().key_id}" in message
    # Writes need the chain's key at hand: refused loudly rather than mixing keys.
    with pytest.raises(ImproperlyConfigured, match="AUDIT_CHAIN_KEY_PREVIOUS"):
        _history(user, ctx, n=1)
    with pytest.raises(CommandError, match="not re-keyed"):
        run("audit_rekey", tenant.slug)

    settings.AUDIT_CHAIN_KEY_PREVIOUS = OLD_SECRET
    _history(user, ctx, n=1)  # appended under the old key until the re-key
    out = run("audit_rekey", tenant.slug)
    assert f"verified under key {chain_key_old.key_id}, now keyed with key" in out
    assert events(tenant)[-1].details["from_key_id"] == chain_key_old.key_id
    run("audit_verify", tenant.slug)
    # The checkpoint signed before the rotation still checks, recomputed under the old key.
    assert "It matches" in run("audit_verify", tenant.slug, "--anchor", old_checkpoint)
    _rewrite(tenant, 3, current_key())
    _verify_fails(tenant, "--anchor", old_checkpoint, match="were rewritten")

    settings.AUDIT_CHAIN_KEY_PREVIOUS = ""
    _verify_fails(tenant, "--anchor", old_checkpoint, match="signature does not verify")


def test_rekey_with_the_old_key_on_the_command_line(
    user: User, ctx: Context, settings: Any
) -> None:
    tenant = user.tenant
    settings.AUDIT_CHAIN_KEY = OLD_SECRET
    AuditChain.objects.filter(tenant=tenant).update(key_id=current_key().key_id)
    _rechain(tenant, current_key())
    _history(user, ctx)
    settings.AUDIT_CHAIN_KEY = NEW_SECRET
    with pytest.raises(CommandError, match="not re-keyed"):
        run("audit_rekey", tenant.slug, "--old-key", "not the old key")
    run("audit_rekey", tenant.slug, "--old-key", OLD_SECRET)
    assert verify_chain(tenant).ok


# --- keys and settings --------------------------------------------------------------------


def test_derived_keys_are_separate_and_name_nothing_of_the_secret() -> None:
    key = ChainKey.from_secret(NEW_SECRET)
    assert key.chain_secret != key.anchor_secret
    assert key.chain_secret is not None and key.anchor_secret is not None
    assert NEW_SECRET.encode() not in key.chain_secret + key.anchor_secret
    assert len(key.key_id) == 16
    assert key.key_id != ChainKey.from_secret(OLD_SECRET).key_id
    assert key.hash(b"x") != UNKEYED.hash(b"x")
    assert key.sign({"a": 1}).split(":")[-1] != key.hash(b'{"a":1}')


def test_a_checkpoint_is_read_back_whole() -> None:
    from datetime import UTC, datetime

    from users.audit_keys import read_checkpoint

    key = ChainKey.from_secret(NEW_SECRET)
    checkpoint = Checkpoint(7, "acme", 12, "ab" * 32, datetime(2026, 1, 2, tzinfo=UTC), key.key_id)
    assert read_checkpoint(checkpoint.signed(key), [key]) == (checkpoint, key)


def _settings_error(**env: str) -> str:
    environment = {**os.environ, "SECRET_KEY": "x", **env}
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import metadata_admin.settings as s; print(len(s.AUDIT_CHAIN_KEY))",
        ],
        cwd=Path(__file__).resolve().parents[2],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stderr if done.returncode else done.stdout


def test_without_debug_the_settings_refuse_to_start_without_a_key() -> None:
    error = _settings_error(DEBUG="False", AUDIT_CHAIN_KEY="")
    assert "ImproperlyConfigured: Set the environment variable AUDIT_CHAIN_KEY" in error
    assert _settings_error(DEBUG="False", AUDIT_CHAIN_KEY="k" * 40).strip() == "40"
    assert _settings_error(DEBUG="True", AUDIT_CHAIN_KEY="").strip() == "1"  # SECRET_KEY's
