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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.db import transaction

from users import metadata, services
from users.audit import Actor, Context
from users.exports import ROOT_FIELDS as EXPORT_ROOT_FIELDS
from users.models import DATABASE_CONNECTION, ActorKind, Channel, Tenant, User

ImportFormat = Literal["json", "csv"]
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# Export columns that describe the user but are not imported (the system sets them).
SYSTEM_COLUMNS = frozenset(
    {"created_at", "updated_at", "last_login", "last_ip", "logins_count", "connection"}
)
BOOLEAN_COLUMNS = frozenset(metadata.PROFILE_BOOLEAN_FIELDS)
IMPORT_ONLY_FIELDS = ("password_hash",)
REPORTED_FAILURES = 1000


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


def _import_row(
    tenant: Tenant,
    row: Any,
    *,
    upsert: bool,
    mode: metadata.MergeMode,
    by: Context,
    seen: set[tuple[str, str]],
) -> Literal["inserted", "updated"]:
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
    key = (str(connection), email.lower())
    if key in seen:
        raise services.ServiceError(
            f"{email} is in this file more than once; only the first counts."
        )
    seen.add(key)
    existing = User.objects.filter(
        tenant=tenant, connection__name=connection, email__lower=email.lower()
    ).first()
    if existing is None:
        services.user_create(tenant=tenant, body=body, by=by, password_hash=password_hash)
        return "inserted"
    if not upsert:
        raise services.UserExists(f"{email} already exists; import with upsert to update it.")
    body.pop("user_id", None)
    if password_hash is not None:
        raise services.ServiceError("password_hash cannot change an existing user's password.")
    services.user_update(user=existing, body=body, by=by, mode=mode)
    return "updated"


def import_users(
    tenant: Tenant,
    rows: list[Any],
    *,
    upsert: bool = False,
    metadata_mode: metadata.MergeMode = "replace",
    dry_run: bool = False,
    by: Context | None = None,
) -> ImportReport:
    """Import `rows` (from `read_rows`); returns the report. Rows are all or nothing each."""
    batch_id = uuid.uuid4()
    ctx = by or Context(actor=Actor(ActorKind.IMPORT, "", "import"), channel=Channel.IMPORT)
    ctx = dataclasses.replace(ctx, batch_id=batch_id, channel=Channel.IMPORT)
    report = ImportReport(total=len(rows), dry_run=dry_run, batch_id=str(batch_id))
    seen: set[tuple[str, str]] = set()
    with transaction.atomic():
        for index, row in enumerate(rows):
            try:
                with transaction.atomic():
                    outcome = _import_row(
                        tenant, row, upsert=upsert, mode=metadata_mode, by=ctx, seen=seen
                    )
            except (metadata.MetadataError, services.ServiceError) as error:
                report.failed += 1
                if len(report.failures) < REPORTED_FAILURES:
                    user = row.get("email") if isinstance(row, Mapping) else None
                    report.failures.append(
                        {
                            "row": index,
                            "user": user,
                            "errors": [dataclasses.asdict(e) for e in _errors_of(error)],
                        }
                    )
                continue
            if outcome == "inserted":
                report.inserted += 1
            else:
                report.updated += 1
        if dry_run:
            transaction.set_rollback(True)
    return report
