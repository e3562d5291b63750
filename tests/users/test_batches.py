"""Bulk edit by query and reverting a whole batch (an import or a bulk edit)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests.factories import FACTORY_CONTEXT, UserFactory
from tests.helpers import bulk_edit_apply, bulk_edit_previewed, events
from users import batches, metadata, services
from users.audit import verify_chain
from users.batches import import_users
from users.models import Job, Tenant, User
from users.search import users_matching

pytestmark = pytest.mark.django_db


@pytest.fixture
def crowd(tenant: Tenant) -> list[User]:
    return [
        UserFactory.create(
            tenant=tenant,
            email=f"u{i}@x.test",
            user_metadata={"theme": "dark" if i % 2 else "light"},
        )
        for i in range(6)
    ]


def edit(tenant: Tenant, q: str, **options: Any) -> batches.BatchReport:
    return batches.users_bulk_edit(
        tenant=tenant,
        users=users_matching(tenant, q),
        tier="user_metadata",
        by=FACTORY_CONTEXT,
        **options,
    )


def test_bulk_set_and_remove_are_one_batch(tenant: Tenant, crowd: list[User]) -> None:
    report = edit(tenant, "user_metadata.theme:dark", key="beta", value=True)
    assert (report.matched, report.changed, report.failed) == (3, 3, 0)
    assert User.objects.filter(tenant=tenant, user_metadata__beta=True).count() == 3
    batch = events(tenant, batch_id=report.batch_id)
    assert len(batch) == 3 and {e.action for e in batch} == {"user.update"}
    assert len(report.samples) == 3
    again = edit(tenant, "user_metadata.theme:dark", key="beta", value=True)
    assert (again.matched, again.changed) == (3, 0)  # nothing to change, nothing recorded
    removed = edit(tenant, "", key="beta", remove=True)
    assert (removed.matched, removed.changed) == (6, 3)


def test_bulk_edit_dry_run_and_bad_input(tenant: Tenant, crowd: list[User]) -> None:
    before = len(events(tenant))
    report = edit(tenant, "", key="beta", value=1, dry_run=True)
    assert (report.changed, report.dry_run) == (6, True)
    assert (
        len(events(tenant)) == before
        and not User.objects.filter(user_metadata__has_key="beta").exists()
    )
    with pytest.raises(metadata.InvalidKeyError):
        edit(tenant, "", key="a.b", value=1)
    with pytest.raises(services.ServiceError, match="Give a value"):
        edit(tenant, "", key="x")
    assert len(events(tenant)) == before


def test_revert_a_bulk_edit_as_one(tenant: Tenant, crowd: list[User]) -> None:
    report = edit(tenant, "", key="theme", value="blue")
    services.user_update(
        user=crowd[0], body={"user_metadata": {"theme": "mine"}}, by=FACTORY_CONTEXT
    )
    import uuid

    reverted = batches.audit_revert_batch(
        tenant=tenant, batch_id=uuid.UUID(report.batch_id), by=FACTORY_CONTEXT
    )
    assert (reverted.matched, reverted.changed, reverted.failed) == (6, 5, 1)
    assert "changed since" in reverted.failures[0]["message"]
    themes = sorted(
        User.objects.filter(tenant=tenant).values_list("user_metadata__theme", flat=True)
    )
    assert themes == sorted(["mine", "dark", "dark", "dark", "light", "light"])


def test_revert_an_import_as_one(tenant: Tenant) -> None:
    report = import_users(tenant, [{"email": f"i{i}@x.test"} for i in range(4)])
    import uuid

    reverted = batches.audit_revert_batch(
        tenant=tenant, batch_id=uuid.UUID(report.batch_id), by=FACTORY_CONTEXT
    )
    assert reverted.changed == 4
    assert not User.objects.filter(tenant=tenant).exists()


def test_commands(tenant: Tenant, crowd: list[User], capsys: pytest.CaptureFixture[str]) -> None:
    call_command(
        "bulk_edit",
        "acme",
        "user_metadata.theme:light",
        "--tier",
        "user_metadata",
        "--set",
        'plan="pro"',
    )
    out = json.loads(capsys.readouterr().out.splitlines()[0])
    assert (out["matched"], out["changed"]) == (3, 3)
    call_command("audit_revert_batch", "acme", out["batch_id"])
    assert json.loads(capsys.readouterr().out.splitlines()[0])["reverted"] == 3
    assert not User.objects.filter(user_metadata__has_key="plan").exists()
    with pytest.raises(CommandError, match="not JSON"):
        call_command("bulk_edit", "acme", "", "--tier", "user_metadata", "--set", "plan=pro")
    with pytest.raises(CommandError, match="Essentials plan"):
        call_command(
            "bulk_edit", "acme", "app_metadata.x:1", "--tier", "user_metadata", "--remove", "x"
        )
    with pytest.raises(CommandError, match="not a batch id"):
        call_command("audit_revert_batch", "acme", "nope")


def test_console_batch_revert(
    client: Client,
    admin_staff: StaffAccount,
    editor: StaffAccount,
    tenant: Tenant,
    crowd: list[User],
    jobs_run_now: Path,
) -> None:
    report = edit(tenant, "", key="beta", value=True)
    url = reverse("users:batch_revert", args=[tenant.slug, report.batch_id])
    client.force_login(editor)
    assert client.post(url).status_code == 403
    client.force_login(admin_staff)
    assert (
        "Revert the whole batch"
        in client.get(reverse("users:audit_log", args=[tenant.slug])).content.decode()
    )
    response = client.post(url, {"confirm": "yes"}, headers={"HX-Request": "true"})
    job = Job.objects.get(kind="revert")
    assert response["HX-Redirect"] == reverse("users:job_detail", args=[tenant.slug, job.pk])
    page = client.get(response["HX-Redirect"]).content.decode()
    assert "Succeeded" in page and "6 changes done: <strong>6</strong> changed" in page
    assert "Revert the whole batch" in page  # the revert is a batch too, and can be undone
    assert not User.objects.filter(user_metadata__has_key="beta").exists()
    assert (
        client.post(reverse("users:batch_revert", args=[tenant.slug, "not-a-uuid"])).status_code
        == 404
    )
    assert (
        client.post(reverse("users:batch_revert", args=[tenant.slug, uuid.uuid4()])).status_code
        == 404
    )


def bulk_url(tenant: Tenant) -> str:
    return reverse("users:bulk_edit", args=[tenant.slug])


def test_console_bulk_edit_previews_then_applies(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, crowd: list[User], jobs_run_now: Path
) -> None:
    client.force_login(admin_staff)
    assert (
        'value="user_metadata.theme:dark"'
        in client.get(bulk_url(tenant), {"q": "user_metadata.theme:dark"}).content.decode()
    )
    data = {
        "q": "user_metadata.theme:dark",
        "tier": "user_metadata",
        "key": "beta",
        "action": "set",
        "value": "true",
    }
    preview = client.post(bulk_url(tenant), {**data, "intent": "preview"}).content.decode()
    assert "Preview: nothing was changed" in preview and "3 users match; 3 would change" in preview
    assert "user_metadata.beta" in preview and "(3 will change)" in preview
    assert not User.objects.filter(user_metadata__has_key="beta").exists()
    response = bulk_edit_apply(client, tenant, data)
    job = Job.objects.get(kind="bulk_edit")
    assert response["Location"] == reverse("users:job_detail", args=[tenant.slug, job.pk])
    page = client.get(response["Location"]).content.decode()
    assert "Succeeded" in page and "3 users done: <strong>3</strong> changed" in page
    assert "Sample changes" in page and "Revert the whole batch" in page
    assert User.objects.filter(user_metadata__beta=True).count() == 3
    again = client.post(bulk_url(tenant), {**data, "intent": "preview"}).content.decode()
    assert "3 users match; 0 would change" in again


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"tier": "user_metadata", "key": "x", "action": "set", "value": "pro"},
            "Enter a JSON value",
        ),
        (
            {"tier": "user_metadata", "key": "x", "action": "set", "value": "null"},
            "null would remove the key",
        ),
        (
            {"tier": "user_metadata", "key": "a.b", "action": "set", "value": "1"},
            "Fields with &quot;.&quot; are not allowed",
        ),
        ({"q": "name:(x", "tier": "user_metadata", "key": "x", "action": "remove"}, "Syntax error"),
        (
            {"q": "app_metadata.x:1", "tier": "user_metadata", "key": "x", "action": "remove"},
            "Essentials plan",
        ),
    ],
)
def test_console_bulk_edit_refusals(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    crowd: list[User],
    data: dict[str, str],
    message: str,
    jobs_run_now: Path,
) -> None:
    client.force_login(admin_staff)
    for intent in ("preview", "apply"):
        page = client.post(bulk_url(tenant), {**data, "intent": intent}).content.decode()
        assert message in page
    assert len(events(tenant, action="user.update")) == 0 and not Job.objects.exists()


@pytest.mark.parametrize(
    ("persona", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)]
)
def test_console_bulk_edit_needs_admin(
    client: Client, request: pytest.FixtureRequest, tenant: Tenant, persona: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert client.get(bulk_url(tenant)).status_code == status


@pytest.mark.parametrize(
    ("key", "value", "remove", "changing"),
    [
        ("theme", "dark", False, 3),  # three are light
        ("theme", None, True, 6),
        ("prefs", {"a": [1, 2]}, False, 5),  # one already has exactly this object
        ("missing", None, True, 0),
        ("n", 1, False, 5),
    ],
)
def test_bulk_edit_preview_counts_the_users_that_would_change(
    tenant: Tenant, crowd: list[User], key: str, value: Any, remove: bool, changing: int
) -> None:
    services.user_update(
        user=crowd[0], body={"user_metadata": {"prefs": {"a": [1, 2]}, "n": 1}}, by=FACTORY_CONTEXT
    )
    before = len(events(tenant))
    report = batches.users_bulk_edit_preview(
        tenant=tenant,
        users=users_matching(tenant, ""),
        tier="user_metadata",
        key=key,
        value=value,
        remove=remove,
        by=FACTORY_CONTEXT,
    )
    assert (report.matched, report.changed, report.dry_run) == (6, changing, True)
    assert len(report.samples) == min(changing, batches.SAMPLE_DIFFS)
    assert len(events(tenant)) == before


def test_job_list(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, crowd: list[User], jobs_wait: Path
) -> None:
    client.force_login(admin_staff)
    bulk_edit_apply(
        client, tenant, {"q": "", "tier": "user_metadata", "key": "k", "action": "remove"}
    )
    page = client.get(reverse("users:job_list", args=[tenant.slug])).content.decode()
    assert "Bulk edit #" in page and "Queued" in page and admin_staff.username in page


def test_a_bulk_edit_chunk_writes_together_and_refuses_alone(
    tenant: Tenant, crowd: list[User], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Users of a chunk are written together (one UPDATE, their leaves, one event each); a
    user the rules refuse is reported and left exactly as it was."""
    monkeypatch.setattr("users.batches.runner.BATCH_CHUNK", 4)
    tenant.metadata_max_bytes = 200
    services.tenant_update(tenant=tenant, changed=["metadata_max_bytes"], by=FACTORY_CONTEXT)
    big = crowd[2]
    User.objects.filter(pk=big.pk).update(user_metadata={"theme": "light", "pad": "x" * 170})
    report = edit(tenant, "", key="note", value="y" * 20)
    assert (report.matched, report.changed, report.failed) == (6, 5, 1)
    assert report.failures[0]["user_id"] == big.user_id and "limit" in report.failures[0]["message"]
    refused = User.objects.get(pk=big.pk)
    assert "note" not in refused.user_metadata and refused.version == big.version
    changed = User.objects.filter(tenant=tenant).exclude(pk=big.pk)
    assert all(u.user_metadata["note"] == "y" * 20 and u.version == 2 for u in changed)
    found = set(
        users_matching(tenant, "user_metadata.note:" + "y" * 20).values_list("pk", flat=True)
    )
    assert found == {u.pk for u in changed}
    updates = events(tenant, action="user.update", batch_id=report.batch_id)
    assert {e.target_pk for e in updates} == {u.pk for u in changed} and len(updates) == 5
    assert verify_chain(tenant).ok


def test_a_free_plan_bulk_edit_of_app_metadata_reveals_no_count_of_values(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, crowd: list[User], jobs_run_now: Path
) -> None:
    """On a plan that may not search app_metadata, previewing "set app_metadata.plan" must
    not tell how many users already have a plan: the page is the same whatever they have."""
    client.force_login(admin_staff)
    data = {"q": "", "tier": "app_metadata", "key": "plan", "action": "set", "value": '"pro"'}

    def summary() -> str:
        page = client.post(bulk_url(tenant), {**data, "intent": "preview"}).content.decode()
        return page[page.index("<h2>Preview") : page.index("</p>", page.index("<h2>Preview"))]

    User.objects.filter(tenant=tenant).update(app_metadata={})
    none_have_it = summary()
    User.objects.filter(pk__in=[u.pk for u in crowd[:3]]).update(app_metadata={"plan": "pro"})
    three_have_it = summary()
    assert none_have_it == three_have_it
    assert f"{len(crowd)} users match" in three_have_it and "would change" not in three_have_it

    bulk_edit_apply(client, tenant, data)
    job = Job.objects.get()
    page = client.get(reverse("users:job_detail", args=[tenant.slug, job.pk])).content.decode()
    assert "users done:" in page and "changed," not in page
    assert User.objects.filter(tenant=tenant, app_metadata__plan="pro").count() == len(crowd)


def test_reverting_a_whole_batch_asks_first(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, crowd: list[User], jobs_run_now: Path
) -> None:
    report = edit(tenant, "", key="beta", value=True)
    url = reverse("users:batch_revert", args=[tenant.slug, report.batch_id])
    client.force_login(admin_staff)
    for asked in (client.get(url), client.post(url)):  # no confirm: the question, nothing done
        page = asked.content.decode()
        assert asked.status_code == 200 and "Revert the whole batch?" in page
        assert f"{len(crowd)} changes will be undone" in page
    assert not Job.objects.filter(kind="revert").exists()
    assert User.objects.filter(user_metadata__beta=True).count() == len(crowd)
    client.post(url, {"confirm": "yes"})
    assert Job.objects.get(kind="revert").status == "succeeded"
    assert not User.objects.filter(user_metadata__beta=True).exists()


def test_apply_runs_exactly_what_was_previewed_once_confirmed(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, crowd: list[User], jobs_run_now: Path
) -> None:
    client.force_login(admin_staff)
    narrow = {
        "q": "user_metadata.theme:dark AND email:u1@x.test",
        "tier": "user_metadata",
        "key": "beta",
        "action": "set",
        "value": "true",
    }
    wide = {**narrow, "q": "user_metadata.theme:dark"}
    matched = users_matching(tenant, narrow["q"]).count()
    assert 0 < matched < users_matching(tenant, wide["q"]).count()
    apply = bulk_edit_previewed(client, tenant, narrow)

    # No preview, or an empty query never previewed: refused, nothing queued.
    for data in (wide, {**wide, "q": ""}):
        refused = client.post(bulk_url(tenant), {**data, "intent": "apply"}).content.decode()
        assert "Preview the edit first" in refused
    # Not confirmed: refused.
    unconfirmed = client.post(bulk_url(tenant), {**apply, "confirm": ""})
    assert unconfirmed.status_code == 400 and "Confirm that you want to change these" in (
        unconfirmed.content.decode()
    )
    assert not Job.objects.exists()

    # The form widened after the preview: Apply still runs the previewed query.
    client.post(bulk_url(tenant), {**wide, **apply})
    assert User.objects.filter(user_metadata__beta=True).count() == matched

    # A preview whose matching users changed since is refused.
    stale = bulk_edit_previewed(client, tenant, {**wide, "key": "gamma"})
    UserFactory.create(tenant=tenant, email="late@x.test", user_metadata={"theme": "dark"})
    late = client.post(bulk_url(tenant), stale).content.decode()
    assert "match now" in late and not User.objects.filter(user_metadata__has_key="gamma").exists()
