"""The import engine (SPEC.md section 8): rows read by `users.imports` go through the write
path on the `import` channel, with one batch id for the whole file, a chunk per transaction
through `run_chunks`.

Each row is all or nothing; an invalid row never stops the import and is reported as
`{row, user, errors: [{code, message, path}]}`. New users of a chunk are checked one by one
and inserted together; existing users (upsert) are updated together, each checked on its
own. A dry run executes the whole import and rolls every chunk back, so its outcomes are
exactly what a real run would do.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import transaction

from users import metadata, services
from users.audit import Actor, Context
from users.batches import import_errors
from users.batches.runner import REPORTED_FAILURES, Checkpoint, Chunk, Report, run_chunks
from users.errors import Refusal
from users.imports import BadRow
from users.models import DATABASE_CONNECTION, ActorKind, Channel, Connection, Tenant, User

CHUNK_ROWS = 1000
PREVIEW_ROWS = 20


@dataclass(frozen=True)
class RowError:
    code: str
    message: str
    path: str = ""


@dataclass
class ImportReport(Report):
    """An import's report: rows in the file, inserted and updated, and the first rows'
    outcomes for a dry run's preview (`{row, user, outcome, errors}`)."""

    total: int = 0
    inserted: int = 0
    updated: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)

    def add(
        self,
        outcomes: Mapping[int, str],
        failures: list[dict[str, Any]],
        rows: Sequence[Any],
        first: int,
    ) -> None:
        """Count a chunk's outcomes; keep the first failures and the first rows' outcomes."""
        for outcome in outcomes.values():
            setattr(self, outcome, getattr(self, outcome) + 1)
        kept = failures[: max(0, REPORTED_FAILURES - len(self.failures))]
        # The report keeps {row, user, errors}; the echo and Auth0's codes go to the file only.
        self.failures.extend({key: f[key] for key in ("row", "user", "errors")} for f in kept)
        errors = {failure["row"]: failure["errors"] for failure in failures}
        for index in sorted(i for i in outcomes if i < PREVIEW_ROWS):
            row = rows[index - first]
            self.preview.append(
                {
                    "row": index,
                    "user": row.get("email") if isinstance(row, Mapping) else None,
                    "outcome": outcomes[index],
                    "errors": errors.get(index, []),
                }
            )

    def summary(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "failed": self.failed,
            "total": self.total,
        }


def _errors_of(error: Refusal) -> list[RowError]:
    return [RowError(error.code, error.message, error.path_str)]


@dataclass(frozen=True)
class _Row:
    """A row that has the shape of a user: its body, password hash and identity key."""

    index: int
    body: dict[str, Any]
    password_hash: str | None
    key: tuple[str, str]

    @property
    def email(self) -> str:
        return self.key[1]


def _shape(index: int, row: Any) -> _Row:
    if isinstance(row, BadRow):
        raise services.ServiceError(row.message)
    if not isinstance(row, Mapping):
        raise metadata.InvalidBodyError("Each user must be a JSON object.")
    body = dict(row)
    if "password" in body:  # as in Auth0's import schema; and hashing 0.3 s a row would stall
        raise metadata.UnknownPropertyError(
            "Passwords are not imported in clear text; give password_hash (a bcrypt hash) "
            "or leave it out and let the user reset it.",
            path=("password",),
        )
    password_hash = body.pop("password_hash", None)
    email = body.get("email")
    if not isinstance(email, str) or not email:
        raise metadata.InvalidBodyError("email is required.", path=("email",))
    connection = body.get("connection") or DATABASE_CONNECTION
    return _Row(index, body, password_hash, (str(connection), email.lower()))


def _repeated(rows: Sequence[Any]) -> dict[int, str]:
    """Rows whose user (email in a connection, or explicit user_id) is in the file more than
    once: all of them fail, since which one is right is not ours to guess."""
    seen: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        if isinstance(row, Mapping) and isinstance(row.get("email"), str):
            connection = str(row.get("connection") or DATABASE_CONNECTION)
            seen[("email", connection, row["email"].lower())].append(index)
            if isinstance(row.get("user_id"), str):
                seen[("user_id", connection, row["user_id"])].append(index)
    repeated: dict[int, str] = {}
    for (what, _, value), indexes in seen.items():
        if len(indexes) > 1:
            where = ", ".join(str(i + 1) for i in indexes[:5]) + (
                ", ..." if len(indexes) > 5 else ""
            )
            for index in indexes:
                repeated.setdefault(
                    index,
                    f"The {what} {value} is in this file {len(indexes)} times (users {where}); "
                    "none of them was imported. Keep one and import again.",
                )
    return repeated


@dataclass
class _Chunk:
    """What one chunk did: outcomes by row index, and its failures in row order. `given`
    is the whole file's rows as they were given (before the job's connection was added)."""

    given: Sequence[Any] = ()
    outcomes: dict[int, str] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, index: int, row: Any, error: Refusal) -> None:
        """Record a refused row: `{row, user, errors: [{code, message, path}]}` as the console
        shows it, plus `given` (the row as given in the file, secrets redacted) and
        `auth0_codes` (Auth0's code of each error) for the API's GET /jobs/{id}/errors."""
        self.outcomes[index] = "failed"
        user = row.get("email") if isinstance(row, Mapping) else None
        given = self.given[index] if index < len(self.given) else row
        errors = _errors_of(error)
        self.failures.append(
            {
                "row": index,
                "user": user,
                "errors": [dataclasses.asdict(e) for e in errors],
                "given": import_errors.redacted(given),
                "auth0_codes": [import_errors.auth0_code(error, given) for _ in errors],
            }
        )


class ImportOptions(NamedTuple):
    """How to import, and what every chunk shares."""

    tenant: Tenant
    upsert: bool
    mode: metadata.MergeMode
    by: Context
    rules: metadata.Rules
    connections: dict[str, Connection]
    given: Sequence[Any]  # the file's rows as given, for the refused rows' echo


def _import_chunk(
    options: ImportOptions, first: int, rows: Sequence[Any], repeated: dict[int, str]
) -> _Chunk:
    """Import rows[first:...] (the chunk): new users in a few statements, existing ones one by
    one; a chunk whose batch insert meets a conflict falls back to one row at a time."""
    chunk = _Chunk(given=options.given)
    shaped: list[_Row] = []
    for index, row in enumerate(rows, start=first):
        try:
            if index in repeated:
                raise import_errors.DuplicatedUser(repeated[index])
            shaped.append(_shape(index, row))
        except Refusal as error:
            chunk.fail(index, row, error)
    existing = _existing_users(options.tenant, [row.key for row in shaped])
    new: list[tuple[_Row, services.NewUser]] = []
    for row in shaped:
        if row.key in existing:
            continue
        try:
            new.append(
                (
                    row,
                    services.users_prepare(
                        tenant=options.tenant,
                        body=row.body,
                        by=options.by,
                        password_hash=row.password_hash,
                        rules=options.rules,
                        connections=options.connections,
                    ),
                )
            )
        except Refusal as error:
            chunk.fail(row.index, row.body, error)
    try:
        with transaction.atomic():
            services.users_create_prepared(
                tenant=options.tenant, new=[prepared for _, prepared in new], by=options.by
            )
    except services.UserExists:
        for row, _ in new:  # someone else took a user_id or an email: find out which, row by row
            _one_row(options, row, chunk, existing=None)
    else:
        for row, _ in new:
            chunk.outcomes[row.index] = "inserted"
    _update_existing(options, [row for row in shaped if row.key in existing], existing, chunk)
    chunk.failures.sort(key=lambda failure: failure["row"])
    return chunk


def _update_existing(
    options: ImportOptions, rows: list[_Row], existing: dict[tuple[str, str], User], chunk: _Chunk
) -> None:
    """Upsert: the chunk's existing users, updated together, each checked on its own. (They
    were matched by email, so no update can move one onto a taken email.)"""
    accepted: list[_Row] = []
    for row in rows:
        try:
            _check_upsert(options, row)
        except Refusal as error:
            chunk.fail(row.index, row.body, error)
        else:
            accepted.append(row)
    if not accepted:
        return
    items = [(existing[row.key], _update_body(row)) for row in accepted]
    outcomes = services.users_update_each(
        tenant=options.tenant, items=items, by=options.by, mode=options.mode
    )
    for row, outcome in zip(accepted, outcomes, strict=True):
        if isinstance(outcome, Refusal):
            chunk.fail(row.index, row.body, outcome)
        else:
            chunk.outcomes[row.index] = "updated"


def _check_upsert(options: ImportOptions, row: _Row) -> None:
    if not options.upsert:
        raise services.UserExists(
            f"{row.body['email']} already exists; import with upsert to update it."
        )
    if row.password_hash is not None:
        raise services.ServiceError("password_hash cannot change an existing user's password.")


def _update_body(row: _Row) -> dict[str, Any]:
    return {key: value for key, value in row.body.items() if key != "user_id"}


def _existing_users(tenant: Tenant, keys: list[tuple[str, str]]) -> dict[tuple[str, str], User]:
    found: dict[tuple[str, str], User] = {}
    by_connection: dict[str, list[str]] = defaultdict(list)
    for connection_name, email in keys:
        by_connection[connection_name].append(email)
    for connection_name, emails in by_connection.items():
        users = User.objects.filter(
            tenant=tenant, connection__name=connection_name, email__lower__in=emails
        )
        for user in users:
            found[(connection_name, (user.email or "").lower())] = user
    return found


def _one_row(options: ImportOptions, row: _Row, chunk: _Chunk, *, existing: User | None) -> None:
    """One row in its own savepoint: create it, or (upsert) update the existing user."""
    try:
        with transaction.atomic():
            if existing is None:
                existing = User.objects.filter(
                    tenant=options.tenant, connection__name=row.key[0], email__lower=row.email
                ).first()
            if existing is None:
                services.user_create(
                    tenant=options.tenant,
                    body=row.body,
                    by=options.by,
                    password_hash=row.password_hash,
                )
                chunk.outcomes[row.index] = "inserted"
                return
            _check_upsert(options, row)
            services.user_update(
                user=existing, body=_update_body(row), by=options.by, mode=options.mode
            )
            chunk.outcomes[row.index] = "updated"
    except Refusal as error:
        chunk.fail(row.index, row.body, error)


def import_users(
    tenant: Tenant,
    rows: Sequence[Any],
    *,
    upsert: bool = False,
    metadata_mode: metadata.MergeMode = "replace",
    dry_run: bool = False,
    by: Context | None = None,
    resume: ImportReport | None = None,
    start_row: int = 0,
    checkpoint: Checkpoint[ImportReport, int] | None = None,
    chunk_rows: int | None = None,
    connection: str | None = None,
) -> ImportReport:
    """Import `rows` (from `users.imports.read_rows`); returns the report. Each row is all or
    nothing; rows commit a chunk at a time, so an interrupted import can go on from
    `start_row` with the `resume` report (same batch id). A dry run rolls back every chunk.
    `connection`: the connection of the rows that name none (the database connection if
    None); a refused row is still echoed as it was given."""
    given = rows
    if connection:
        rows = [{"connection": connection, **row} if isinstance(row, dict) else row for row in rows]
    report = resume or ImportReport(total=len(rows), dry_run=dry_run, batch_id=str(uuid.uuid4()))
    ctx = by or Context(actor=Actor(ActorKind.IMPORT, "", "import"), channel=Channel.IMPORT)
    ctx = dataclasses.replace(ctx, batch_id=uuid.UUID(report.batch_id), channel=Channel.IMPORT)
    options = ImportOptions(tenant, upsert, metadata_mode, ctx, tenant.metadata_rules(), {}, given)
    repeated = _repeated(rows)
    step = chunk_rows or CHUNK_ROWS

    def next_chunk(first: int) -> Chunk[int, int] | None:
        end = min(first + step, len(rows))
        return Chunk(range(first, end), end) if first < len(rows) else None

    def work(indexes: Sequence[int]) -> list[dict[str, Any]]:
        first, end = indexes[0], indexes[-1] + 1
        chunk = _import_chunk(options, first, rows[first:end], repeated)
        report.add(chunk.outcomes, chunk.failures, rows, first)
        return chunk.failures

    return run_chunks(
        report,
        kind="import",
        start=start_row,
        next_chunk=next_chunk,
        work=work,
        checkpoint=checkpoint,
        relax_commit=True,
    )
