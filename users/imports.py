"""Bulk import of users (SPEC.md section 8): Auth0's bulk-import JSON or the export's CSV.

Every row goes through the write path on the `import` channel, with one batch id for the
whole file. Each row is all or nothing (its own savepoint); an invalid row never stops the
import and is reported as `{user, errors: [{code, message, path}]}`. A dry run executes the
whole import in a transaction and rolls it back, so its outcomes are exactly what a real run
would do.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from django.db import connection, transaction

from users import metadata, services
from users.audit import Actor, Context
from users.exports import ROOT_FIELDS as EXPORT_ROOT_FIELDS
from users.models import DATABASE_CONNECTION, ActorKind, Channel, Connection, Tenant, User

ImportFormat = Literal["json", "csv"]
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# Export columns that describe the user but are not imported (the system sets them).
SYSTEM_COLUMNS = frozenset(
    {"created_at", "updated_at", "last_login", "last_ip", "logins_count", "connection"}
)
BOOLEAN_COLUMNS = frozenset(metadata.PROFILE_BOOLEAN_FIELDS)
IMPORT_ONLY_FIELDS = ("password_hash",)
REPORTED_FAILURES = services.REPORTED_FAILURES


class ImportFileError(ValueError):
    """The file as a whole cannot be read: nothing was imported."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class RowError:
    code: str
    message: str
    path: str = ""


@dataclass
class ImportReport:
    total: int = 0
    inserted: int = 0
    updated: int = 0
    failed: int = 0
    dry_run: bool = False
    batch_id: str = ""
    failures: list[dict[str, Any]] = field(default_factory=list)
    # The first rows' outcomes, for a dry run's preview: {row, user, outcome, errors}.
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
        self.failures.extend(failures[: max(0, REPORTED_FAILURES - len(self.failures))])
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

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportReport:
        return cls(**data)

    def summary(self) -> dict[str, int]:
        return {
            "inserted": self.inserted,
            "updated": self.updated,
            "failed": self.failed,
            "total": self.total,
        }


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImportFileError(
            f"The file is not UTF-8: byte 0x{data[error.start]:02x} at position {error.start}. "
            "Save it as UTF-8 and try again."
        ) from None


def read_rows(data: bytes, fmt: ImportFormat, *, max_bytes: int = DEFAULT_MAX_BYTES) -> list[Any]:
    """The file's rows, or ImportFileError saying what is wrong with the file as a whole."""
    if len(data) > max_bytes:
        raise ImportFileError(
            f"The file is {len(data):,} bytes; the limit is {max_bytes:,} bytes. Split it."
        )
    text = _decode(data)
    if fmt == "json":
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as error:
            raise ImportFileError(
                f"The file is not valid JSON: {error.msg} at line {error.lineno}, "
                f"column {error.colno}."
            ) from None
        if not isinstance(rows, list):
            raise ImportFileError("The file must be a JSON array of users.")
        return rows
    return _csv_rows(text)


def _cell(column: str, text: str) -> Any:
    if text == "":
        return None
    if column in BOOLEAN_COLUMNS:
        if text not in ("true", "false"):
            raise ValueError(f"{column} is true or false, not {text!r}")
        return text == "true"
    if column.partition(".")[0] in metadata.TIERS:
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text
    return text


def _csv_rows(text: str) -> list[Any]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("The CSV file is empty.") from None
    except csv.Error as error:
        raise ImportFileError(f"The CSV file cannot be read: {error}.") from None
    known = set(EXPORT_ROOT_FIELDS) | set(metadata.TIERS) | set(IMPORT_ONLY_FIELDS)
    unknown = [
        name
        for name in header
        if name not in known and name.partition(".")[0] not in metadata.TIERS
    ]
    if unknown:
        raise ImportFileError(
            f"Unknown column(s): {', '.join(unknown)}. Use the export's column names."
        )
    if "email" not in header:
        raise ImportFileError("The CSV file needs an email column.")
    rows: list[Any] = []
    try:
        for line in reader:
            if not any(line):
                continue
            if len(line) != len(header):
                rows.append(
                    _Bad(
                        f"Line {reader.line_num} has {len(line)} cells; "
                        f"the header has {len(header)}."
                    )
                )
                continue
            rows.append(_csv_row(header, line, reader.line_num))
    except csv.Error as error:
        raise ImportFileError(
            f"The CSV file cannot be read at line {reader.line_num}: {error}."
        ) from None
    return rows


@dataclass(frozen=True)
class _Bad:
    """A CSV line that could not be turned into a user; reported like any failed row."""

    message: str


def _csv_row(header: list[str], line: list[str], number: int) -> Any:
    row: dict[str, Any] = {}
    for column, text in zip(header, line, strict=True):
        if column in SYSTEM_COLUMNS:
            continue
        try:
            value = _cell(column, text)
        except ValueError as error:
            return _Bad(f"Line {number}: {error}.")
        tier, _, path = column.partition(".")
        if tier in metadata.TIERS and path:
            if value is None:
                continue
            target = row.setdefault(tier, {})
            keys = path.split(".")
            for key in keys[:-1]:
                target = target.setdefault(key, {})
            target[keys[-1]] = value
        elif value is not None:
            row[column] = value
    return row


def _errors_of(error: Exception) -> list[RowError]:
    if isinstance(error, metadata.MetadataError):
        return [RowError(error.code, error.message, error.path_str)]
    if isinstance(error, services.ServiceError):
        return [RowError(error.code, error.message)]
    raise error


RowFailure = (metadata.MetadataError, services.ServiceError)


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
    if isinstance(row, _Bad):
        raise services.ServiceError(row.message)
    if not isinstance(row, Mapping):
        raise metadata.InvalidBodyError("Each user must be a JSON object.")
    body = dict(row)
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
    """What one chunk did: outcomes by row index, and its failures in row order."""

    outcomes: dict[int, str] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, index: int, row: Any, error: Exception) -> None:
        self.outcomes[index] = "failed"
        user = row.get("email") if isinstance(row, Mapping) else None
        self.failures.append(
            {
                "row": index,
                "user": user,
                "errors": [dataclasses.asdict(e) for e in _errors_of(error)],
            }
        )


class ImportSettings(NamedTuple):
    tenant: Tenant
    upsert: bool
    mode: metadata.MergeMode
    by: Context
    rules: metadata.Rules
    connections: dict[str, Connection]


def _import_chunk(
    job: ImportSettings, first: int, rows: Sequence[Any], repeated: dict[int, str]
) -> _Chunk:
    """Import rows[first:...] (the chunk): new users in a few statements, existing ones one by
    one; a chunk whose batch insert meets a conflict falls back to one row at a time."""
    chunk = _Chunk()
    shaped: list[_Row] = []
    for index, row in enumerate(rows, start=first):
        try:
            if index in repeated:
                raise services.ServiceError(repeated[index])
            shaped.append(_shape(index, row))
        except RowFailure as error:
            chunk.fail(index, row, error)
    existing = _existing_users(job.tenant, [row.key for row in shaped])
    new: list[tuple[_Row, services.NewUser]] = []
    for row in shaped:
        if row.key in existing:
            continue
        try:
            new.append(
                (
                    row,
                    services.users_prepare(
                        tenant=job.tenant,
                        body=row.body,
                        by=job.by,
                        password_hash=row.password_hash,
                        rules=job.rules,
                        connections=job.connections,
                    ),
                )
            )
        except RowFailure as error:
            chunk.fail(row.index, row.body, error)
    try:
        with transaction.atomic():
            services.users_create_prepared(
                tenant=job.tenant, new=[prepared for _, prepared in new], by=job.by
            )
    except services.UserExists:
        for row, _ in new:  # someone else took a user_id or an email: find out which, row by row
            _one_row(job, row, chunk, existing=None)
    else:
        for row, _ in new:
            chunk.outcomes[row.index] = "inserted"
    _update_existing(job, [row for row in shaped if row.key in existing], existing, chunk)
    chunk.failures.sort(key=lambda failure: failure["row"])
    return chunk


def _update_existing(
    job: ImportSettings, rows: list[_Row], existing: dict[tuple[str, str], User], chunk: _Chunk
) -> None:
    """Upsert: the chunk's existing users, updated together, each checked on its own. (They
    were matched by email, so no update can move one onto a taken email.)"""
    accepted: list[_Row] = []
    for row in rows:
        try:
            _check_upsert(job, row)
        except RowFailure as error:
            chunk.fail(row.index, row.body, error)
        else:
            accepted.append(row)
    if not accepted:
        return
    items = [(existing[row.key], _update_body(row)) for row in accepted]
    outcomes = services.users_update_each(tenant=job.tenant, items=items, by=job.by, mode=job.mode)
    for row, outcome in zip(accepted, outcomes, strict=True):
        if isinstance(outcome, RowFailure):
            chunk.fail(row.index, row.body, outcome)
        else:
            chunk.outcomes[row.index] = "updated"


def _check_upsert(job: ImportSettings, row: _Row) -> None:
    if not job.upsert:
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


def _one_row(job: ImportSettings, row: _Row, chunk: _Chunk, *, existing: User | None) -> None:
    """One row in its own savepoint: create it, or (upsert) update the existing user."""
    try:
        with transaction.atomic():
            if existing is None:
                existing = User.objects.filter(
                    tenant=job.tenant, connection__name=row.key[0], email__lower=row.email
                ).first()
            if existing is None:
                services.user_create(
                    tenant=job.tenant, body=row.body, by=job.by, password_hash=row.password_hash
                )
                chunk.outcomes[row.index] = "inserted"
                return
            _check_upsert(job, row)
            services.user_update(user=existing, body=_update_body(row), by=job.by, mode=job.mode)
            chunk.outcomes[row.index] = "updated"
    except RowFailure as error:
        chunk.fail(row.index, row.body, error)


# Called after each chunk, inside its transaction (so a chunk and its checkpoint commit
# together), with the report so far, the next row to import and the chunk's failures.
Checkpoint = Callable[[ImportReport, int, list[dict[str, Any]]], None]


def _relax_commit() -> None:
    """On PostgreSQL, a chunk's commit does not wait for its WAL flush. A crash may then
    lose the last chunks committed, but each chunk's checkpoint is in the same transaction,
    so it is lost with it and a resumed import redoes exactly those chunks."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


CHUNK_ROWS = 1000
PREVIEW_ROWS = 20


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
    checkpoint: Checkpoint | None = None,
    chunk_rows: int | None = None,
) -> ImportReport:
    """Import `rows` (from `read_rows`); returns the report. Each row is all or nothing; rows
    commit a chunk at a time, so an interrupted import can go on from `start_row` with the
    `resume` report (same batch id). A dry run rolls back every chunk."""
    report = resume or ImportReport(total=len(rows), dry_run=dry_run, batch_id=str(uuid.uuid4()))
    ctx = by or Context(actor=Actor(ActorKind.IMPORT, "", "import"), channel=Channel.IMPORT)
    ctx = dataclasses.replace(ctx, batch_id=uuid.UUID(report.batch_id), channel=Channel.IMPORT)
    job = ImportSettings(tenant, upsert, metadata_mode, ctx, tenant.metadata_rules(), {})
    repeated = _repeated(rows)
    step = chunk_rows or CHUNK_ROWS
    for first in range(start_row, len(rows), step):
        end = min(first + step, len(rows))
        with transaction.atomic():
            _relax_commit()
            chunk = _import_chunk(job, first, rows[first:end], repeated)
            report.add(chunk.outcomes, chunk.failures, rows, first)
            if dry_run:
                transaction.set_rollback(True)
            elif checkpoint is not None:
                checkpoint(report, end, chunk.failures)
        if dry_run and checkpoint is not None:
            checkpoint(report, end, chunk.failures)
    return report
