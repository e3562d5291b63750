"""Operations on one stored document (SPEC.md section 4): the first-level merge of a tier,
deleting a first-level key, and finding, stripping or refusing deny-listed attributes.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from users.errors import format_path
from users.metadata.errors import DeniedAttributeError, InvalidBodyError, MissingKeyError
from users.metadata.rules import Doc, JSONValue, Path

# --- merge, delete ------------------------------------------------------------------------


def merge_tier(stored: Mapping[str, JSONValue], patch: Mapping[str, JSONValue]) -> Doc:
    """First-level merge (SPEC.md section 4): keys replace whole, `null` removes, `{}` clears."""
    if not isinstance(patch, Mapping):
        kind = "null" if patch is None else type(patch).__name__
        raise InvalidBodyError(
            f"A metadata patch must be an object, not {kind}. Send {{}} to clear the tier."
        )
    if not patch:
        return {}
    merged = dict(stored)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def first_level_changes(shown: Mapping[str, JSONValue], edited: Mapping[str, JSONValue]) -> Doc:
    """What an edit of a whole tier changed, as a first-level merge patch: the keys added or
    changed with their new values, the keys removed as `null`. Empty when nothing changed."""
    changes: Doc = {key: value for key, value in edited.items() if shown.get(key) != value}
    changes.update({key: None for key in shown if key not in edited})
    return changes


def delete_key(doc: Mapping[str, JSONValue], key: str, *, tier: str) -> Doc:
    """Remove one first-level key; refuses a key that is not there."""
    if key not in doc:
        raise MissingKeyError(f"{tier} has no key {key!r} to delete.", path=(tier, key))
    return {k: v for k, v in doc.items() if k != key}


# --- deny list ----------------------------------------------------------------------------


def parse_deny_entry(entry: str) -> tuple[str, ...]:
    """`user_metadata.ssn` -> ("user_metadata", "ssn"); `gender` -> ("gender",)."""
    return tuple(part for part in entry.split(".") if part)


def _denied_paths_in(value: JSONValue, rest: Path, path: Path) -> Iterator[Path]:
    """Where `rest` (a deny-list path below a tier) occurs in `value`, skipping array levels."""
    # Iterative, so that deeply nested arrays cannot exhaust the recursion limit.
    stack: list[tuple[JSONValue, Path, Path]] = [(value, rest, path)]
    while stack:
        value, rest, path = stack.pop()
        if isinstance(value, list):
            stack.extend(
                (item, rest, (*path, index)) for index, item in reversed(list(enumerate(value)))
            )
            continue
        if not isinstance(value, dict) or not rest:
            continue
        head, tail = rest[0], rest[1:]
        if head not in value:
            continue
        if not tail:
            yield (*path, head)
        else:
            stack.append((value[head], tail, (*path, head)))


def denied_paths(body: Mapping[str, JSONValue], deny_list: Iterable[str]) -> list[Path]:
    """Every place in `body` that holds a deny-listed attribute with a non-null value."""
    found: list[Path] = []
    for entry in sorted(deny_list):
        parts = parse_deny_entry(entry)
        if not parts or parts[0] not in body:
            continue
        if len(parts) == 1:
            if body[parts[0]] is not None:
                found.append(parts)
            continue
        for place in _denied_paths_in(body[parts[0]], parts[1:], (str(parts[0]),)):
            if _get(body, place) is not None:
                found.append(place)
    # Different entries can name the same place ("a.b", "a..b"); report and remove it once.
    return list(dict.fromkeys(found))


def _get(doc: Any, path: Path) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def strip_denied(body: Mapping[str, JSONValue], deny_list: Iterable[str]) -> tuple[Doc, list[str]]:
    """Remove deny-listed attributes (for signup, import, rules); returns what was dropped."""
    places = denied_paths(body, deny_list)
    if not places:
        return dict(body), []
    stripped: Doc = dict(body)
    copied: set[int] = {id(stripped)}
    # Remove deepest-first so that a removed parent does not hide a deeper place. Only the
    # containers on the way to a removed place are copied; `body` itself is never changed.
    for place in sorted(places, key=lambda p: (len(p), [str(x) for x in p]), reverse=True):
        parent: Any = stripped
        for part in place[:-1]:
            child = parent[part]
            if id(child) not in copied:
                child = copy.copy(child)
                copied.add(id(child))
                parent[part] = child
            parent = child
        del parent[place[-1]]
    return stripped, [format_path(p) for p in places]


def refuse_denied(body: Mapping[str, JSONValue], deny_list: Iterable[str]) -> None:
    """An explicit write of a deny-listed attribute is refused, naming it."""
    places = denied_paths(body, deny_list)
    if places:
        where = format_path(places[0])
        raise DeniedAttributeError(
            f"{where} is on this tenant's deny list and is never stored; remove it.",
            path=places[0],
        )
