"""Metadata flattened into searchable leaves: one (path, scalar) pair per value a query can find.

This is the one definition of what `user_metadata.<path>:value` matches (SPEC.md section 5),
chosen to agree with PostgreSQL's lax SQL/JSON path `$.a.b ? (@ == value)`:

- each step of the path reads a key of an object, or of every object directly inside an
  array (array levels are skipped: `addresses.city` finds `{"addresses": [{"city": ..}]}`);
- at the end, a scalar is found as is, and arrays are searched two levels deep
  (`hobbies:"go"` finds `{"hobbies": ["go"]}` and `{"hobbies": [["go"]]}`);
- null, empty arrays and empty objects hold no leaf, so nothing finds them, not even
  `_exists_`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, NamedTuple

STRING, NUMBER, BOOLEAN = "s", "n", "b"
MAX_PATH_LENGTH = 500

_ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
)


class Leaf(NamedTuple):
    path: str
    kind: str
    text: str | None
    number: float | None
    moment: datetime | None
    first: bool


def parse_moment(text: str) -> datetime | None:
    """An ISO 8601 date or date-time as an aware UTC datetime; None for anything else."""
    if not _ISO_DATETIME.match(text):
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: 9999-12-31T23:59-01:00 is year 10000
        return None


def _emit(path: str, value: Any, seen: set[str], out: list[Leaf]) -> None:
    if value is None:
        return
    first = path not in seen
    if first:
        seen.add(path)
    if value is True or value is False:
        out.append(Leaf(path, BOOLEAN, None, 1.0 if value else 0.0, None, first))
    elif isinstance(value, str):
        moment = parse_moment(value) if len(value) >= 10 and value[4:5] == "-" else None
        out.append(Leaf(path, STRING, value, None, moment, first))
    else:
        try:
            out.append(Leaf(path, NUMBER, None, float(value), None, first))
        except OverflowError:
            return


def _collect(item: Any, prefix: str, seen: set[str], out: list[Leaf]) -> None:
    # Scalars found at the end of the path: the item, or inside arrays two levels deep.
    if isinstance(item, dict):
        objects: list[Any] = [item]
    elif isinstance(item, list):
        objects = []
        for first in item:
            if isinstance(first, dict):
                objects.append(first)
            elif isinstance(first, list):
                for second in first:
                    if not isinstance(second, dict | list) and prefix:
                        _emit(prefix, second, seen, out)
            elif prefix:
                _emit(prefix, first, seen, out)
    else:
        if prefix:
            _emit(prefix, item, seen, out)
        return
    # Then each key of the object, or of every object directly inside the array.
    for obj in objects:
        for key, child in obj.items():
            path = f"{prefix}.{key}" if prefix else key
            if len(path) <= MAX_PATH_LENGTH:
                _collect(child, path, seen, out)


def leaves(doc: Mapping[str, Any]) -> list[Leaf]:
    """Every leaf of one metadata tier; the first leaf of each path is marked for sorting."""
    out: list[Leaf] = []
    _collect(dict(doc), "", set(), out)
    return out
