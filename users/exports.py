"""Streaming exports of users (SPEC.md section 8): CSV or NDJSON, optionally gzipped.

Rows come from a server-side cursor in id order, so memory stays flat however many users
match. Every CSV cell that a spreadsheet would run as a formula is prefixed with `'`.
"""

from __future__ import annotations

import csv
import json
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from django.db import connection
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import JSONArray

from users import metadata
from users.errors import Refusal
from users.models import Tenant
from users.search import users_matching
from users.times import iso_millis

Format = Literal["csv", "ndjson"]
FORMATS: tuple[str, ...] = ("csv", "ndjson")
DEFAULT_FIELDS = (
    "user_id",
    "given_name",
    "family_name",
    "nickname",
    "name",
    "email",
    "email_verified",
    "picture",
    "connection",
    "created_at",
    "updated_at",
)
ROOT_FIELDS = (
    "user_id",
    *metadata.PROFILE_STRING_FIELDS,
    *metadata.PROFILE_BOOLEAN_FIELDS,
    "connection",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
)
# Column sets offered in the console (the command line takes any list).
PRESETS: dict[str, tuple[str, tuple[str, ...]]] = {
    "default": ("Auth0's default columns", DEFAULT_FIELDS),
    "profile": (
        "Profile",
        (
            "user_id",
            "email",
            "email_verified",
            "username",
            "phone_number",
            "name",
            "given_name",
            "family_name",
            "nickname",
            "blocked",
            "connection",
            "created_at",
            "updated_at",
            "last_login",
            "logins_count",
        ),
    ),
    "everything": ("Everything (both tiers whole, as JSON)", (*ROOT_FIELDS, *metadata.TIERS)),
    "emails": ("Just user_id and email", ("user_id", "email")),
}
_FORMULA_CHARS = frozenset("=+-@\t\r")
CHUNK = 2000


class ExportError(Refusal, ValueError):
    """An export that cannot run as asked; the message says which column and why."""


@dataclass(frozen=True)
class Column:
    name: str  # a root field, a tier, or tier.path
    export_as: str

    @property
    def tier_path(self) -> tuple[str, list[str]] | None:
        tier, _, path = self.name.partition(".")
        return (tier, path.split(".") if path else []) if tier in metadata.TIERS else None


def parse_columns(spec: str | Iterable[str] | None) -> list[Column]:
    """`user_id,email,user_metadata.plan:Plan` -> columns; unknown names are refused."""
    if spec is None or spec == "":
        return [Column(name, name) for name in DEFAULT_FIELDS]
    items = [part.strip() for part in spec.split(",")] if isinstance(spec, str) else list(spec)
    columns: list[Column] = []
    for item in items:
        if not item:
            continue
        if not metadata.storable_text(item):
            raise ExportError(f"The column {item!r} has a NUL character or a lone surrogate.")
        name, _, export_as = item.partition(":")
        name = name.strip()
        column = Column(name, export_as.strip() or name)
        tier_path = column.tier_path
        if name not in ROOT_FIELDS and tier_path is None:
            raise ExportError(
                f"Unknown column {name!r}. Use root fields ({', '.join(ROOT_FIELDS)}), "
                "user_metadata / app_metadata, or a metadata path such as user_metadata.plan."
            )
        if tier_path is not None and any(not part for part in tier_path[1]):
            raise ExportError(f"{name!r} is not a valid metadata path.")
        columns.append(column)
    if not columns:
        raise ExportError("Choose at least one column.")
    names = [column.export_as for column in columns]
    duplicate = next((name for name in names if names.count(name) > 1), None)
    if duplicate:
        raise ExportError(f"Two columns would both be called {duplicate!r}; rename one with :NAME.")
    return columns


def _source(column: Column, index: int) -> tuple[str, Any]:
    """What the database returns for a column: a field name, or (for a metadata path) an
    alias and the JSON key transform that reads just that value."""
    tier_path = column.tier_path
    if tier_path is None:
        return ("connection__name" if column.name == "connection" else column.name), None
    tier, path = tier_path
    if not path:
        return tier, None
    expression: Any = KeyTransform(path[0], tier)
    for key in path[1:]:
        expression = KeyTransform(key, expression)
    return f"path_{index}", expression


def _jsonable(value: Any) -> Any:
    return _iso_time(value) if isinstance(value, datetime) else value


def _iso_time(moment: datetime) -> str:
    """Times as the API writes them: `2026-11-30T12:00:00.000Z` (`users.times.iso_millis`)."""
    return iso_millis(moment)


def csv_cell(value: Any) -> str:
    """One CSV cell. Text that a spreadsheet would run as a formula gets a leading `'`;
    numbers (even negative ones) cannot carry a formula and are written as they are."""
    kind = value.__class__
    if kind is str:
        return "'" + value if value and value[0] in _FORMULA_CHARS else value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int or kind is float:
        return str(value)
    if kind is datetime:
        return _iso_time(value)
    if kind is dict or kind is list:
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    else:
        text = str(value)
    return "'" + text if text and text[0] in _FORMULA_CHARS else text


class _Line:
    def write(self, value: str) -> str:
        return value


def csv_line(cells: Iterable[Any]) -> str:
    """One CSV line of safe cells (see `csv_cell`)."""
    return _LINE_WRITER.writerow([csv_cell(cell) for cell in cells])


_LINE_WRITER = csv.writer(_Line())


def _read(queryset: QuerySet[Any], sources: list[tuple[str, Any]]) -> Iterator[tuple[Any, ...]]:
    """The rows, one value per column, from a server-side cursor."""
    paths = [expression for _, expression in sources if expression is not None]
    if connection.vendor != "postgresql" or len(paths) < 2:
        aliases = {name: expression for name, expression in sources if expression is not None}
        annotated = queryset.annotate(**aliases) if aliases else queryset
        names = [name for name, _ in sources]
        yield from annotated.values_list(*names).iterator(chunk_size=CHUNK)
        return
    # PostgreSQL: all metadata paths in one jsonb array, decoded once per row.
    plain = [name for name, expression in sources if expression is None]
    annotated = queryset.annotate(export_paths=JSONArray(*paths))
    where = [expression is None for _, expression in sources]
    for row in annotated.values_list(*plain, "export_paths").iterator(chunk_size=CHUNK):
        fields, values = iter(row[:-1]), iter(row[-1])
        yield tuple(next(fields) if is_plain else next(values) for is_plain in where)


def _rows(rows: Iterable[tuple[Any, ...]], columns: list[Column], fmt: Format) -> Iterator[str]:
    if fmt == "csv":
        yield csv_line(column.export_as for column in columns)
        for row in rows:
            yield csv_line(row)
    else:
        names = [column.export_as for column in columns]
        for row in rows:
            record = {name: _jsonable(value) for name, value in zip(names, row, strict=True)}
            yield json.dumps(record, ensure_ascii=False, default=str) + "\n"


def _gzipped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(wbits=31)  # gzip container
    for chunk in chunks:
        data = compressor.compress(chunk)
        if data:
            yield data
    yield compressor.flush()


def _batched(lines: Iterator[str], size: int = 64 * 1024) -> Iterator[bytes]:
    buffer: list[str] = []
    length = 0
    for line in lines:
        buffer.append(line)
        length += len(line)
        if length >= size:
            yield "".join(buffer).encode("utf-8")
            buffer, length = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def export_users(
    tenant: Tenant,
    *,
    q: str = "",
    columns: str | Iterable[str] | None = None,
    fmt: str = "csv",
    gzip: bool = False,
) -> Iterator[bytes]:
    """The export as a stream of bytes. Validates everything before the first byte:
    the format, the columns, and the query (plan gate included)."""
    if fmt not in FORMATS:
        raise ExportError(f"Format {fmt!r} is not supported; use csv or ndjson.")
    chosen = parse_columns(columns)
    # Only the columns the export reads, as plain rows: no model instances, and a metadata
    # tier is decoded only when one of its paths is exported.
    sources = [_source(column, index) for index, column in enumerate(chosen)]
    matching = users_matching(tenant, q).order_by("pk")
    rows = _read(matching, sources)
    stream = _batched(_rows(rows, chosen, "csv" if fmt == "csv" else "ndjson"))
    return _gzipped(stream) if gzip else stream
