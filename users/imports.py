"""Readers for imports (the mirror of `users.exports`): Auth0's bulk-import JSON, or the
export's CSV, turned into rows for the import engine (`users.batches.imports`).

A file that cannot be read as a whole is refused with `ImportFileError` (nothing is
imported); a CSV line that cannot become a user is a `BadRow`, which the engine reports like
any other failed row.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any, Literal

from users import metadata
from users.errors import Refusal
from users.exports import ROOT_FIELDS as EXPORT_ROOT_FIELDS

ImportFormat = Literal["json", "csv"]
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
# Export columns that describe the user but are not imported (the system sets them).
SYSTEM_COLUMNS = frozenset(
    {"created_at", "updated_at", "last_login", "last_ip", "logins_count", "connection"}
)
BOOLEAN_COLUMNS = frozenset(metadata.PROFILE_BOOLEAN_FIELDS)
IMPORT_ONLY_FIELDS = ("password_hash",)


class ImportFileError(Refusal, ValueError):
    """The file as a whole cannot be read: nothing was imported."""


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
            rows = metadata.parse_json(text, what="The file")
        except metadata.MetadataError as error:
            raise ImportFileError(error.message) from None
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
            return text  # not JSON: the text itself
        except (ValueError, RecursionError) as error:  # JSON, but too deep or too long
            raise ValueError(
                f"{column}: " + (metadata.json_error_message(error, "the cell") or "")
            ) from None
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
                    BadRow(
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
class BadRow:
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
            return BadRow(f"Line {number}: {error}.")
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
