"""Management commands: create_tenant, add_staff, seed_demo (audit_verify in test_audit)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import events
from users.models import Identity, Membership, Tenant, User

pytestmark = pytest.mark.django_db


def _signs_in(username: str, password: str) -> Any:
    """The account if the password is right (sign-in through the view is tested elsewhere)."""
    staff = get_user_model().objects.filter(username=username).first()
    return staff if staff is not None and staff.check_password(password) else None


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_create_tenant(db: None) -> None:
    assert "Created tenant initech on the essentials plan" in run(
        "create_tenant", "initech", "--plan", "essentials", "--name", "Initech"
    )
    tenant = Tenant.objects.get(slug="initech")
    assert (tenant.name, tenant.plan) == ("Initech", "essentials")
    assert tenant.connections.get().name == "Username-Password-Authentication"
    assert [(e.action, e.channel, e.actor_kind) for e in events(tenant)] == [
        ("tenant.create", "cli", "system")
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["acme", "--plan", "free"], "already exists"),
        (["Not A Slug", "--plan", "free"], "Enter a valid"),
    ],
)
def test_create_tenant_refusals(tenant: Tenant, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create_tenant", *args)
    assert Tenant.objects.count() == 1


def test_create_tenant_rejects_an_unknown_plan(db: None) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'gold'"):
        run("create_tenant", "x", "--plan", "gold")


def test_add_staff_creates_an_account_with_a_role(tenant: Tenant) -> None:
    out = run(
        "add_staff",
        "Op@Example.com",
        "--tenant",
        "acme",
        "--role",
        "editor",
        "--password",
        "a-Strong-passphrase-9",
    )
    assert "Created op@example.com: editor of acme" in out
    staff = _signs_in("op@example.com", "a-Strong-passphrase-9")
    assert staff is not None
    assert Membership.objects.get(staff=staff, tenant=tenant).role == "editor"
    assert events(tenant)[-1].action == "membership.set"
    # Running again changes the role, keeps the password.
    assert "Updated op@example.com: admin" in run(
        "add_staff", "op@example.com", "--tenant", "acme", "--role", "admin"
    )
    assert Membership.objects.get(staff=staff, tenant=tenant).role == "admin"


def test_add_staff_prompts_for_a_password(tenant: Tenant, monkeypatch: pytest.MonkeyPatch) -> None:
    answers = iter(["a-Strong-passphrase-9", "a-Strong-passphrase-9"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    run("add_staff", "p@example.com", "--tenant", "acme", "--role", "viewer")
    assert _signs_in("p@example.com", "a-Strong-passphrase-9") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            [
                "x@example.com",
                "--tenant",
                "nope",
                "--role",
                "viewer",
                "--password",
                "a-Strong-passphrase-9",
            ],
            "No tenant 'nope'",
        ),
        (
            [
                "not-an-email",
                "--tenant",
                "acme",
                "--role",
                "viewer",
                "--password",
                "a-Strong-passphrase-9",
            ],
            "not an email address",
        ),
        (
            ["x@example.com", "--tenant", "acme", "--role", "viewer", "--password", "123"],
            "too short",
        ),
    ],
)
def test_add_staff_refusals(tenant: Tenant, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("add_staff", *args)
    assert not Membership.objects.exists()


def test_seed_demo_creates_tenant_users_staff_and_one_event_per_batch(
    db: None, tmp_path, monkeypatch
) -> None:
    from users.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "ACCOUNTS_FILE", tmp_path / "accounts.txt")
    monkeypatch.setattr(seed_demo, "BATCH", 40)
    out = run("seed_demo", "--tenant", "demo", "--plan", "professional", "--users", "100")
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.plan == "professional"
    assert User.objects.filter(tenant=tenant).count() == 100
    assert Identity.objects.filter(user__tenant=tenant).count() == 100
    assert [e.details["count"] for e in events(tenant, action="user.bulk_create")] == [40, 40, 20]
    for role in ("viewer", "editor", "admin", "owner"):
        assert f"{role}@demo.test" in out
        assert (
            Membership.objects.get(staff__username=f"{role}@demo.test", tenant=tenant).role == role
        )
    line = next(
        line
        for line in (tmp_path / "accounts.txt").read_text().splitlines()
        if line.startswith("owner@")
    )
    assert _signs_in("owner@demo.test", line.split()[1]) is not None
    # Metadata is varied: nested objects, arrays, numbers, booleans and dates.
    sample = [u.user_metadata for u in User.objects.filter(tenant=tenant)]
    assert any(isinstance(m.get("addresses"), list) for m in sample)
    assert any(isinstance(m.get("preferences"), dict) for m in sample)
    assert any(isinstance(m.get("newsletter"), bool) for m in sample)
    assert any("birthday" in m for m in sample)
    assert "already has tenants; not seeding" in run("seed_demo", "--if-empty")
    assert User.objects.filter(tenant=tenant).count() == 100


def test_seed_demo_defaults_to_acme_and_globex(db: None, tmp_path, monkeypatch) -> None:
    from users.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "ACCOUNTS_FILE", tmp_path / "accounts.txt")
    run("seed_demo", "--users", "10")
    assert dict(Tenant.objects.values_list("slug", "plan")) == {
        "acme": "free",
        "globex": "professional",
    }
    assert User.objects.count() == 20
