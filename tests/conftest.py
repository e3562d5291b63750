from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.db import DEFAULT_DB_ALIAS, connections

from tests.factories import StaffFactory, TenantFactory, UserFactory
from users.audit import Actor, Context
from users.models import ActorKind, Channel, Membership, Role, Tenant, User


@pytest.fixture(scope="session", autouse=True)
def _connections_close_after_each_request() -> None:
    """As with DATABASE_CONN_MAX_AGE=0: a live server's keep-alive threads would otherwise
    keep their connections open past the tests, and the test database could not be dropped."""
    connections.settings[DEFAULT_DB_ALIAS]["CONN_MAX_AGE"] = 0


@pytest.fixture(scope="session", autouse=True)
def _flush_lifts_the_audit_truncate_guard() -> Iterator[None]:
    """PostgreSQL refuses TRUNCATE of the audit table (a trigger), and Django empties the
    database after a transactional test with TRUNCATE: that flush, and only it, lifts the
    trigger inside its own transaction. Every other TRUNCATE in the tests is still refused."""
    if connections[DEFAULT_DB_ALIAS].vendor != "postgresql":
        yield
        return
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush

    def sql_flush(self: DatabaseOperations, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        sql: list[str] = original(self, style, tables, **kwargs)
        if "users_auditevent" not in tables:
            return sql
        return [
            _AUDIT_TRUNCATE_GUARD.format("DISABLE"),
            *sql,
            _AUDIT_TRUNCATE_GUARD.format("ENABLE"),
        ]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DatabaseOperations, "sql_flush", sql_flush)
        yield


_AUDIT_TRUNCATE_GUARD = """DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'users_auditevent_no_truncate') THEN
        ALTER TABLE users_auditevent {} TRIGGER users_auditevent_no_truncate;
    END IF;
END $$;"""


IMMEDIATE_TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
QUEUED_TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}


@pytest.fixture
def job_files(settings: Any, tmp_path: Path) -> Path:
    """Job files (exports, uploads, error reports) go to a fresh folder."""
    settings.JOB_FILES_DIR = tmp_path
    return tmp_path


@pytest.fixture
def jobs_run_now(settings: Any, job_files: Path) -> Path:
    """Jobs run as soon as they are queued, in the request (Django Tasks' immediate backend)."""
    settings.TASKS = IMMEDIATE_TASKS
    return job_files


@pytest.fixture
def jobs_wait(settings: Any, job_files: Path) -> Path:
    """Jobs are queued and nobody runs them (Django Tasks' dummy backend)."""
    settings.TASKS = QUEUED_TASKS
    return job_files


@pytest.fixture
def ctx() -> Context:
    return Context(actor=Actor(ActorKind.SYSTEM, "", "tests"), channel=Channel.CLI)


@pytest.fixture
def tenant(db: None) -> Tenant:
    return TenantFactory.create(slug="acme", plan="free")


@pytest.fixture
def paid_tenant(db: None) -> Tenant:
    return TenantFactory.create(slug="globex", plan="professional")


@pytest.fixture
def user(tenant: Tenant) -> User:
    return UserFactory.create(
        tenant=tenant,
        email="Ada@Example.com",
        user_metadata={"hobby": "surfing", "addresses": {"home": "123 Main"}},
        app_metadata={"plan": "pro", "roles": ["admin"]},
    )


def _persona(tenant: Tenant, role: str | None, name: str) -> StaffAccount:
    staff = StaffFactory.create(username=f"{name}@staff.test")
    if role is not None:
        Membership.objects.create(staff=staff, tenant=tenant, role=role)
    return staff


@pytest.fixture
def owner(tenant: Tenant) -> StaffAccount:
    return _persona(tenant, Role.OWNER, "owner")


@pytest.fixture
def admin_staff(tenant: Tenant) -> StaffAccount:
    return _persona(tenant, Role.ADMIN, "admin")


@pytest.fixture
def editor(tenant: Tenant) -> StaffAccount:
    return _persona(tenant, Role.EDITOR, "editor")


@pytest.fixture
def viewer(tenant: Tenant) -> StaffAccount:
    return _persona(tenant, Role.VIEWER, "viewer")


@pytest.fixture
def outsider(tenant: Tenant) -> StaffAccount:
    return _persona(tenant, None, "outsider")


@pytest.fixture
def superuser(db: None) -> StaffAccount:
    return StaffFactory.create(username="root@staff.test", is_superuser=True, is_staff=True)


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    """Hashing strength is Django's concern, not these tests'; keep the suite quick (new
    hashes are MD5). bcrypt stays, to verify the hashes Auth0 imports bring."""
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
    ]


NODE_DIR = Path(__file__).parent / "api" / "node"


def _node_sdk_version() -> str | None:
    manifest = NODE_DIR / "node_modules" / "auth0" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.is_file() else None


@pytest.fixture(scope="session")
def node_sdk() -> Path:
    """Auth0's Node SDK as tests/api/node/package-lock.json pins it, installed with `npm ci`
    when it is not yet (the Management API and the Authentication API tests share it)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("needs node and npm (Node 20+) for Auth0's Node SDK")
    lock = json.loads((NODE_DIR / "package-lock.json").read_text())
    wanted = lock["packages"]["node_modules/auth0"]["version"]
    if _node_sdk_version() != wanted:
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            timeout=300,
        )
    assert _node_sdk_version() == wanted
    return NODE_DIR
