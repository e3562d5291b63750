"""The audit log: hash chain, tamper detection, append-only table, revert."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import jsonpatch
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction

from tests.factories import UserFactory
from tests.helpers import events, on_postgres
from users import services
from users.audit import Context, make_patches, verify_chain
from users.models import AuditEvent, Tenant, User

pytestmark = pytest.mark.django_db


@contextmanager
def append_only_lifted() -> Iterator[None]:
    """Tampering as an attacker with table rights would: lift the trigger (PostgreSQL)."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        # Deferred foreign-key checks must fire first, or ALTER TABLE refuses.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE users_auditevent DISABLE TRIGGER users_auditevent_append_only")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE users_auditevent ENABLE TRIGGER users_auditevent_append_only"
            )


def _some_history(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"theme": "dark", "n": 1.5}}, by=ctx)
    services.user_update(user=user, body={"app_metadata": {"big": 10**20, "f": 1e20}}, by=ctx)
    services.user_set_blocked(user=user, blocked=True, by=ctx)


def test_events_chain_and_verify(user: User, ctx: Context) -> None:
    _some_history(user, ctx)
    chain = events(user.tenant)
    assert [e.seq for e in chain] == list(range(1, len(chain) + 1))
    assert chain[0].prev_hash == ""
    for previous, event in itertools.pairwise(chain):
        assert event.prev_hash == previous.hash
    report = verify_chain(user.tenant)
    assert report.ok, report.reason
    assert report.checked == len(chain)


def test_events_carry_actor_channel_request_and_ip(user: User) -> None:
    from users.audit import Actor

    by = Context(
        actor=Actor("staff", "7", "op@x.test"),
        channel="console",
        request_id="req-1",
        ip="192.0.2.9",
    )
    name_before = user.name  # None, or what a new user's name is generated as
    services.user_update(user=user, body={"name": "New"}, by=by)
    event = events(user.tenant)[-1]
    assert (event.actor_kind, event.actor_id, event.actor_label) == ("staff", "7", "op@x.test")
    assert (event.channel, event.request_id, event.ip) == ("console", "req-1", "192.0.2.9")
    assert event.inverse_patch == [{"op": "replace", "path": "/name", "value": name_before}]


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"forward_patch": [{"op": "add", "path": "/x", "value": 1}]}, id="payload"),
        pytest.param({"actor_label": "someone else"}, id="actor"),
        pytest.param({"hash": "0" * 64}, id="hash"),
        pytest.param({"prev_hash": "f" * 64}, id="link"),
    ],
)
def test_a_tampered_row_breaks_the_chain(user: User, ctx: Context, tamper: dict[str, Any]) -> None:
    _some_history(user, ctx)
    target = events(user.tenant)[2]
    with append_only_lifted():
        AuditEvent.objects.filter(pk=target.pk).update(**tamper)
    report = verify_chain(user.tenant)
    assert not report.ok
    assert report.broken_at == target.seq
    with pytest.raises(CommandError, match=f"BROKEN at event #{target.seq}"):
        call_command("audit_verify", user.tenant.slug)


def test_a_deleted_row_breaks_the_chain(user: User, ctx: Context) -> None:
    _some_history(user, ctx)
    chain = events(user.tenant)
    with append_only_lifted():
        AuditEvent.objects.filter(pk=chain[1].pk).delete()
    assert verify_chain(user.tenant).broken_at == 2
    with append_only_lifted():
        AuditEvent.objects.filter(pk=chain[-1].pk).delete()
        AuditEvent.objects.filter(pk__in=[e.pk for e in chain[1:]]).delete()
    # Dropping the tail is caught by the chain head.
    report = verify_chain(user.tenant)
    assert not report.ok
    assert "chain head" in report.reason


def test_audit_verify_command_passes_on_a_clean_chain(user: User, ctx: Context, capsys) -> None:
    _some_history(user, ctx)
    call_command("audit_verify", user.tenant.slug)
    assert "verifies: 5 events" in capsys.readouterr().out
    with pytest.raises(CommandError, match="No tenant"):
        call_command("audit_verify", "nope")


@on_postgres
def test_postgres_refuses_update_and_delete_of_events(user: User) -> None:
    event = events(user.tenant)[-1]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="user.nothing")
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "user.create"


def test_a_tenant_with_history_cannot_be_deleted(tenant: Tenant) -> None:
    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        tenant.delete()


# --- revert -------------------------------------------------------------------------------


def test_revert_applies_the_inverse_as_a_new_audited_change(user: User, ctx: Context) -> None:
    services.user_update(
        user=user, body={"user_metadata": {"hobby": None, "theme": "dark"}}, by=ctx
    )
    change = events(user.tenant)[-1]
    reverting = services.audit_revert(event=change, by=ctx)
    user.refresh_from_db()
    assert user.user_metadata == {"hobby": "surfing", "addresses": {"home": "123 Main"}}
    assert reverting.action == "user.revert"
    assert reverting.details == {"reverts": change.seq}
    assert reverting.forward_patch == change.inverse_patch or user.version == 3
    assert verify_chain(user.tenant).ok


def test_revert_leaves_later_changes_to_other_paths_alone(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"theme": "dark"}}, by=ctx)
    change = events(user.tenant)[-1]
    services.user_update(user=user, body={"app_metadata": {"plan": "enterprise"}}, by=ctx)
    services.audit_revert(event=change, by=ctx)
    user.refresh_from_db()
    assert "theme" not in user.user_metadata
    assert user.app_metadata["plan"] == "enterprise"


def test_revert_refuses_when_the_touched_paths_changed_since(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"theme": "dark"}}, by=ctx)
    change = events(user.tenant)[-1]
    services.user_update(user=user, body={"user_metadata": {"theme": "light"}}, by=ctx)
    user.refresh_from_db()
    before = user.profile(), user.version, len(events(user.tenant))
    with pytest.raises(services.RevertConflict, match=r"/user_metadata/theme.*changed since"):
        services.audit_revert(event=change, by=ctx)
    user.refresh_from_db()
    assert (user.profile(), user.version, len(events(user.tenant))) == before


def test_revert_of_a_removal_refuses_when_the_key_came_back(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"hobby": None}}, by=ctx)
    change = events(user.tenant)[-1]
    services.user_update(user=user, body={"user_metadata": {"hobby": "chess"}}, by=ctx)
    with pytest.raises(services.RevertConflict):
        services.audit_revert(event=change, by=ctx)


def test_revert_of_a_deleted_users_change_is_refused(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"name": "x"}, by=ctx)
    change = events(user.tenant)[-1]
    services.user_delete(user=user, by=ctx)
    with pytest.raises(services.RevertConflict, match="has been deleted"):
        services.audit_revert(event=change, by=ctx)


def test_revert_of_delete_recreates_the_user(user: User, ctx: Context) -> None:
    user_id, profile = user.user_id, user.profile()
    services.user_delete(user=user, by=ctx)
    services.audit_revert(event=events(user.tenant)[-1], by=ctx)
    again = User.objects.get(tenant=user.tenant, user_id=user_id)
    assert again.profile() == profile
    with pytest.raises(services.RevertConflict, match=r"has been deleted|exists again"):
        services.audit_revert(event=events(user.tenant, action="user.delete")[-1], by=ctx)


def test_revert_of_create_deletes_an_unchanged_user(tenant: Tenant, ctx: Context) -> None:
    fresh = UserFactory.create(tenant=tenant, email="fresh@x.test")
    services.audit_revert(event=events(tenant)[-1], by=ctx)
    assert not User.objects.filter(pk=fresh.pk).exists()
    changed = UserFactory.create(tenant=tenant, email="changed@x.test")
    create_event = events(tenant)[-1]
    services.user_update(user=changed, body={"name": "Edited"}, by=ctx)
    with pytest.raises(services.RevertConflict):
        services.audit_revert(event=create_event, by=ctx)
    assert User.objects.filter(pk=changed.pk).exists()


def test_tenant_events_cannot_be_reverted(tenant: Tenant, ctx: Context) -> None:
    with pytest.raises(services.RevertConflict, match=r"tenant\.create cannot be reverted"):
        services.audit_revert(event=events(tenant)[0], by=ctx)


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ({}, {"email": "a@x.test", "a/b~c": {"n": [1, {"x": None}]}, "blocked": False}),
        ({"email": "a@x.test", "user_metadata": {"k": 1}}, {}),
        ({}, {}),
    ],
)
def test_creation_and_deletion_patches_are_what_jsonpatch_makes(
    before: dict[str, Any], after: dict[str, Any]
) -> None:
    forward, inverse = make_patches(before, after)
    assert forward == jsonpatch.make_patch(before, after).patch
    assert inverse == jsonpatch.make_patch(after, before).patch
    assert jsonpatch.apply_patch(before, forward) == after
    assert jsonpatch.apply_patch(after, inverse) == before
