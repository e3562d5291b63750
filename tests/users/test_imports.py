"""Bulk import: Auth0 JSON and export CSV, row by row, with a report; dry runs write nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from django.contrib.auth.hashers import check_password, identify_hasher
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.factories import TenantFactory, UserFactory
from tests.helpers import events
from users.audit import verify_chain
from users.batches import ImportReport, import_users
from users.exports import export_users
from users.imports import ImportFileError, read_rows
from users.models import Tenant, User
from users.search import users_matching

pytestmark = pytest.mark.django_db
BCRYPT = "$2b$10$" + "a" * 53


def rows_of(data: Any) -> list[Any]:
    return read_rows(json.dumps(data).encode(), "json")


def test_auth0_json_imports_valid_rows_and_reports_the_rest(tenant: Tenant) -> None:
    rows = rows_of(
        [
            {
                "email": "a@x.test",
                "user_metadata": {"theme": "dark"},
                "app_metadata": {"plan": "pro"},
                "password_hash": BCRYPT,
            },
            {"email": "b@x.test", "shoe_size": 44},
            {"email": "c@x.test", "user_metadata": {"a.b": 1}},
            {"name": "no email"},
            {"email": "A@x.test"},
            "not an object",
            {"email": "d@x.test", "user_id": "auth0|same"},
            {"email": "e@x.test", "user_id": "auth0|same"},
            {"email": "f@x.test", "user_metadata": {"theme": "light"}},
        ]
    )
    report = import_users(tenant, rows)
    assert report.summary() == {"inserted": 1, "updated": 0, "failed": 8, "total": 9}
    assert User.objects.get(tenant=tenant).email == "f@x.test"
    failures = {f["row"]: f for f in report.failures}
    # A user twice in one file: every occurrence fails, so nothing is guessed.
    for row in (0, 4):
        assert failures[row]["errors"][0]["message"] == (
            "The email a@x.test is in this file 2 times (users 1, 5); none of them was "
            "imported. Keep one and import again."
        )
    assert "user_id auth0|same is in this file 2 times" in failures[6]["errors"][0]["message"]
    assert "user_id auth0|same" in failures[7]["errors"][0]["message"]
    assert failures[1]["errors"][0]["message"].startswith(
        "Payload validation error: 'Additional properties not allowed: shoe_size'"
    )
    assert failures[2]["errors"][0] == {
        "code": "invalid_body",
        "message": failures[2]["errors"][0]["message"],
        "path": "user_metadata.a.b",
    }
    assert failures[3]["errors"][0]["path"] == "email"
    assert failures[5]["errors"][0]["message"] == "Each user must be a JSON object."
    first_batch = report.batch_id

    report = import_users(tenant, rows_of([rows[0]]))
    assert report.summary() == {"inserted": 1, "updated": 0, "failed": 0, "total": 1}
    imported = User.objects.get(tenant=tenant, email="a@x.test")
    assert imported.user_metadata == {"theme": "dark"} and imported.app_metadata == {"plan": "pro"}
    assert imported.password == f"bcrypt${BCRYPT}"
    created = events(tenant, action="user.create")
    assert [(e.channel, e.actor_kind, str(e.batch_id), e.target_user_id) for e in created] == [
        ("import", "import", first_batch, User.objects.get(email="f@x.test").user_id),
        ("import", "import", report.batch_id, imported.user_id),
    ]


def test_upsert_with_merge_or_replace(tenant: Tenant) -> None:
    user = UserFactory.create(
        tenant=tenant, email="a@x.test", user_metadata={"keep": 1, "theme": "light"}
    )
    not_upserted = import_users(
        tenant, rows_of([{"email": "a@x.test", "user_metadata": {"theme": "dark"}}])
    )
    assert (
        not_upserted.failed == 1 and not_upserted.failures[0]["errors"][0]["code"] == "user_exists"
    )
    merged = import_users(
        tenant,
        rows_of([{"email": "A@x.test", "user_metadata": {"theme": "dark"}}]),
        upsert=True,
        metadata_mode="merge",
    )
    assert merged.summary()["updated"] == 1
    user.refresh_from_db()
    assert user.user_metadata == {"keep": 1, "theme": "dark"}
    import_users(
        tenant, rows_of([{"email": "a@x.test", "user_metadata": {"only": True}}]), upsert=True
    )
    user.refresh_from_db()
    assert user.user_metadata == {"only": True}


def test_dry_run_reports_exactly_and_writes_nothing(tenant: Tenant) -> None:
    before = User.objects.count(), len(events(tenant))
    report = import_users(tenant, rows_of([{"email": "a@x.test"}, {"email": "bad"}]), dry_run=True)
    assert report.summary() == {"inserted": 1, "updated": 0, "failed": 1, "total": 2}
    assert report.dry_run
    assert (User.objects.count(), len(events(tenant))) == before


def test_deny_listed_attributes_are_stripped_on_import(tenant: Tenant) -> None:
    from tests.factories import FACTORY_CONTEXT
    from users import services

    tenant.deny_list = ["user_metadata.ssn"]
    services.tenant_update(tenant=tenant, changed=["deny_list"], by=FACTORY_CONTEXT)
    import_users(tenant, rows_of([{"email": "a@x.test", "user_metadata": {"ssn": "1", "ok": 1}}]))
    assert User.objects.get(email="a@x.test").user_metadata == {"ok": 1}


def test_export_csv_imports_back(tenant: Tenant) -> None:
    UserFactory.create(
        tenant=tenant,
        email="a@x.test",
        name="Ada",
        email_verified=True,
        user_metadata={"plan": "pro", "n": 3},
    )
    data = b"".join(
        export_users(
            tenant,
            columns="email,name,email_verified,created_at,user_metadata.plan,user_metadata.n,app_metadata",
        )
    )
    other = TenantFactory.create(slug="copy")
    report = import_users(other, read_rows(data, "csv"))
    assert report.summary() == {"inserted": 1, "updated": 0, "failed": 0, "total": 1}
    copy = User.objects.get(tenant=other)
    assert (copy.email, copy.name, copy.email_verified, copy.user_metadata) == (
        "a@x.test",
        "Ada",
        True,
        {"plan": "pro", "n": 3},
    )


@pytest.mark.parametrize(
    ("data", "fmt", "message"),
    [
        (b"[{", "json", "not valid JSON"),
        (b'{"email": "a@x.test"}', "json", "must be a JSON array"),
        (b"\xff\xfe\x00", "json", "not UTF-8"),
        (b"email,shoe_size\na@x.test,44\n", "csv", "Unknown column(s): shoe_size"),
        (b"name\nAda\n", "csv", "needs an email column"),
        (b"", "csv", "empty"),
    ],
)
def test_bad_files_are_refused_whole(data: bytes, fmt: str, message: str) -> None:
    with pytest.raises(ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_rows(data, fmt)  # type: ignore[arg-type]


def test_size_limit() -> None:
    with pytest.raises(ImportFileError, match="the limit is 10 bytes"):
        read_rows(b"[" + b" " * 20 + b"]", "json", max_bytes=10)


def test_bad_csv_lines_fail_alone(tenant: Tenant) -> None:
    rows = read_rows(b"email,email_verified\na@x.test,true\nb@x.test,maybe\nc@x.test\n", "csv")
    report = import_users(tenant, rows)
    assert report.summary() == {"inserted": 1, "updated": 0, "failed": 2, "total": 3}
    assert "email_verified is true or false" in report.failures[0]["errors"][0]["message"]
    assert "has 1 cells" in report.failures[1]["errors"][0]["message"]


def test_cli(tenant: Tenant, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "users.json"
    source.write_text(json.dumps([{"email": "a@x.test"}, {"email": "b@x.test", "blocked": "yes"}]))
    errors = tmp_path / "errors.ndjson"
    call_command("import_users", "acme", str(source), "--dry-run")
    assert json.loads(capsys.readouterr().out.splitlines()[0])["dry_run"] is True
    assert not User.objects.filter(email="a@x.test").exists()
    call_command("import_users", "acme", str(source), "--errors", str(errors))
    out = capsys.readouterr().out
    assert json.loads(out.splitlines()[0])["inserted"] == 1
    assert "blocked must be true or false" in out
    assert [json.loads(line)["row"] for line in errors.read_text().splitlines()] == [1]
    with pytest.raises(CommandError, match="not valid JSON"):
        bad = tmp_path / "bad.json"
        bad.write_text("[{")
        call_command("import_users", "acme", str(bad))


def test_new_users_go_in_by_chunks_each_audited_in_one_chain(tenant: Tenant) -> None:
    taken = UserFactory.create(tenant=tenant, email="old@x.test", user_id="auth0|taken")
    rows = rows_of(
        [{"email": f"u{i}@x.test", "user_metadata": {"n": i, "tags": ["a", "b"]}} for i in range(7)]
        + [{"email": "clash@x.test", "user_id": "auth0|taken"}, {"email": "last@x.test"}]
    )
    report = import_users(tenant, rows, chunk_rows=3)
    assert report.summary() == {"inserted": 8, "updated": 0, "failed": 1, "total": 9}
    # The chunk with a taken user_id fell back to one row at a time: only that row failed.
    assert report.failures == [
        {
            "row": 7,
            "user": "clash@x.test",
            "errors": [
                {
                    "code": "user_exists",
                    "message": "A user with the user_id auth0|taken already exists.",
                    "path": "",
                }
            ],
        }
    ]
    assert User.objects.get(pk=taken.pk).email == "old@x.test"
    created = events(tenant, action="user.create", batch_id=report.batch_id)
    assert len(created) == 8
    assert verify_chain(tenant).ok
    u3 = User.objects.get(email="u3@x.test")
    assert (u3.user_metadata, u3.identities.count()) == ({"n": 3, "tags": ["a", "b"]}, 1)
    assert set(users_matching(tenant, "user_metadata.tags:b").values_list("email", flat=True)) == {
        f"u{i}@x.test" for i in range(7)
    }
    assert [p["outcome"] for p in report.preview] == ["inserted"] * 7 + ["failed", "inserted"]


def test_an_interrupted_import_goes_on_from_its_last_checkpoint(tenant: Tenant) -> None:
    rows = rows_of([{"email": f"u{i}@x.test"} for i in range(5)] + [{"email": "bad"}])
    saved: list[tuple[dict[str, Any], int]] = []

    class Stopped(Exception):
        pass

    def crash_after_two_chunks(report: ImportReport, next_row: int, failures: Any) -> None:
        if len(saved) == 2:
            raise Stopped  # the worker dies while the third chunk is in its transaction
        saved.append((report.to_dict(), next_row))

    with pytest.raises(Stopped):
        import_users(tenant, rows, chunk_rows=2, checkpoint=crash_after_two_chunks)
    assert User.objects.filter(tenant=tenant).count() == 4  # the third chunk rolled back whole
    report_so_far, next_row = saved[-1]
    report = import_users(
        tenant,
        rows,
        chunk_rows=2,
        resume=ImportReport.from_dict(report_so_far),
        start_row=next_row,
    )
    assert report.summary() == {"inserted": 5, "updated": 0, "failed": 1, "total": 6}
    assert User.objects.filter(tenant=tenant).count() == 5
    assert {str(e.batch_id) for e in events(tenant, action="user.create")} == {report.batch_id}
    assert verify_chain(tenant).ok


def test_upserts_go_in_together_and_fail_alone(tenant: Tenant) -> None:
    """Existing users of a chunk are updated together; a refused row fails on its own."""
    users = [
        UserFactory.create(tenant=tenant, email=f"u{i}@x.test", user_metadata={"keep": i})
        for i in range(4)
    ]
    rows = rows_of(
        [
            {"email": "u0@x.test", "user_metadata": {"plan": "pro"}},
            {"email": "u1@x.test", "user_metadata": {"a.b": 1}},
            {"email": "u2@x.test", "user_metadata": {"plan": "team"}},
            {"email": "u3@x.test", "name": "Three"},
            {"email": "new@x.test"},
        ]
    )
    report = import_users(tenant, rows, upsert=True, metadata_mode="merge", chunk_rows=5)
    assert report.summary() == {"inserted": 1, "updated": 3, "failed": 1, "total": 5}
    assert [f["row"] for f in report.failures] == [1]
    stored = {u.email: u for u in User.objects.filter(tenant=tenant)}
    assert stored["u0@x.test"].user_metadata == {"keep": 0, "plan": "pro"}
    assert stored["u1@x.test"].user_metadata == {"keep": 1}
    assert stored["u3@x.test"].name == "Three" and stored["u3@x.test"].version == 2
    updates = events(tenant, action="user.update", batch_id=report.batch_id)
    assert sorted(e.target_user_id for e in updates) == sorted(
        u.user_id for u in (users[0], users[2], users[3])
    )
    assert verify_chain(tenant).ok


def test_a_clear_text_password_fails_its_row_and_nothing_is_hashed(tenant: Tenant) -> None:
    """Auth0's import schema takes no clear-text password, and hashing one (0.3 s) inside an
    import's transaction would hold the database for every other writer."""
    rows = [{"email": "a@x.test", "password": "correct horse battery"}, {"email": "b@x.test"}]
    report = import_users(tenant, rows)
    assert (report.inserted, report.failed) == (1, 1)
    error = report.failures[0]["errors"][0]
    assert error["path"] == "password" and "clear text" in error["message"]
    assert not User.objects.filter(email="a@x.test").exists()


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
def test_an_imported_bcrypt_hash_keeps_the_users_password(tenant: Tenant, prefix: str) -> None:
    """Auth0 exports bcrypt hashes ($2a$/$2b$); the user signs in with the same password."""
    made = bcrypt.hashpw(b"correct horse battery", bcrypt.gensalt(10)).decode()
    given = prefix + made.removeprefix("$2b$")
    report = import_users(tenant, [{"email": "a@x.test", "password_hash": given}])
    assert report.inserted == 1
    stored = User.objects.get(email="a@x.test").password
    assert stored == f"bcrypt${given}" and identify_hasher(stored).algorithm == "bcrypt"
    assert check_password("correct horse battery", stored)
    assert not check_password("correct horse battery!", stored)
