"""Checks on what may be stored (SPEC.md sections 2 and 9): key names, values the databases
can store as JSON, nesting depth, compact-JSON size, and `validate_tier` for a whole tier
(including reserved keys and the tenant's JSON Schema).
"""

from __future__ import annotations

import json
import math
import re
import sys

import jsonschema

from users.errors import format_path
from users.metadata.errors import (
    DepthLimitError,
    InvalidBodyError,
    InvalidKeyError,
    InvalidValueError,
    ReservedKeyError,
    SchemaViolationError,
    SizeLimitError,
)
from users.metadata.rules import (
    APP_METADATA,
    DEFAULT_RULES,
    RESERVED_APP_METADATA_KEYS,
    JSONValue,
    Path,
    Rules,
)


def json_error_message(error: BaseException, what: str = "This") -> str | None:
    """What to tell a person whose JSON text failed to parse with `error`, starting with
    `what` ("This", "The file", "The body"); None for an error that is not about the text."""
    if isinstance(error, json.JSONDecodeError):
        return (
            f"{what} is not valid JSON: {error.msg} at line {error.lineno}, column {error.colno}."
        )
    if isinstance(error, RecursionError):
        return (
            f"{what} is JSON nested too deep to read (hundreds of levels); metadata may be "
            "nested a few levels at most."
        )
    if isinstance(error, ValueError) and "digits" in str(error):
        return (
            f"{what} has a number of more than {sys.get_int_max_str_digits():,} digits, "
            "which cannot be stored."
        )
    return None


def parse_json(text: str | bytes, *, what: str = "This") -> JSONValue:
    """`json.loads`, with every way a text can fail (malformed, nested too deep for the
    parser, an integer too long to convert) refused as InvalidBodyError saying so."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
        message = json_error_message(error, what)
        if message is None:
            raise
        raise InvalidBodyError(message) from None


def compact_json(value: JSONValue) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def compact_size(value: JSONValue) -> int:
    """Bytes of the compact UTF-8 JSON serialization (the unit of every size limit)."""
    return len(compact_json(value).encode("utf-8"))


# Fast paths for the common case; anything they do not match gets the full checks below.
_PLAIN_TEXT = re.compile(r"[^\x00\ud800-\udfff]*\Z")
_PLAIN_KEY = re.compile(r"[^.$\x00\ud800-\udfff]+\Z")


def storable_text(text: str) -> bool:
    """Whether the databases can store (or even compare) `text`: no NUL, no lone surrogate."""
    return _PLAIN_TEXT.match(text) is not None


def _check_string(text: str, path: Path, what: str) -> None:
    if storable_text(text):
        return
    if "\x00" in text:
        raise InvalidValueError(
            f"{what} at {format_path(path)} contains a NUL character (\\u0000), "
            "which cannot be stored.",
            path=path,
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidValueError(
            f"{what} at {format_path(path)} is not valid Unicode (it has a lone surrogate).",
            path=path,
        ) from None


def _check_key(key: object, path: Path) -> None:
    if isinstance(key, str) and _PLAIN_KEY.match(key):
        return
    where = format_path(path)
    if not isinstance(key, str):
        raise InvalidKeyError(
            f"Keys must be strings; {key!r} at {format_path(path[:-1])} is not.", path=path
        )
    if key == "":
        raise InvalidKeyError(
            f'Empty field names are not allowed. Example: {format_path(path[:-1])}.""',
            path=path,
        )
    if "." in key:
        raise InvalidKeyError(
            f'Fields with "." are not allowed, please remove all dotted fields. Example: {where}',
            path=path,
        )
    if "$" in key:
        raise InvalidKeyError(
            'Fields with "$" are not allowed, please remove all fields containing "$". '
            f"Example: {where}",
            path=path,
        )
    try:
        _check_string(key, path, "The key")
    except InvalidValueError as error:
        raise InvalidKeyError(error.message, path=path) from None


def _walk(value: JSONValue, path: Path, depth: int, max_depth: int) -> None:
    """Check names and values at every depth; `depth` counts the containers around `value`."""
    if isinstance(value, dict):
        if depth + 1 > max_depth:
            raise DepthLimitError(
                f"{format_path(path)} is nested {depth + 1} levels deep; the limit is {max_depth}.",
                path=path,
            )
        for key, child in value.items():
            child_path = (*path, key)
            _check_key(key, child_path)
            _walk(child, child_path, depth + 1, max_depth)
    elif isinstance(value, list):
        if depth + 1 > max_depth:
            raise DepthLimitError(
                f"{format_path(path)} is nested {depth + 1} levels deep; the limit is {max_depth}.",
                path=path,
            )
        for index, child in enumerate(value):
            _walk(child, (*path, index), depth + 1, max_depth)
    elif isinstance(value, str):
        _check_string(value, path, "The value")
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        try:
            int.__repr__(value)
        except ValueError:
            raise InvalidValueError(
                f"The number at {format_path(path)} has too many digits to store.", path=path
            ) from None
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidValueError(
                f"The value at {format_path(path)} is {value!r}; only finite numbers are JSON.",
                path=path,
            )
    else:
        raise InvalidValueError(
            f"The value at {format_path(path)} is a {type(value).__name__}, not a JSON value.",
            path=path,
        )


def validate_tier(tier: str, doc: JSONValue, rules: Rules = DEFAULT_RULES) -> None:
    """A whole stored tier: an object, good key names, reserved keys, depth, size, schema."""
    path: Path = (tier,)
    if not isinstance(doc, dict):
        kind = "null" if doc is None else type(doc).__name__
        raise InvalidBodyError(f"{tier} must be an object, not {kind}.", path=path)
    limits = rules.limits
    # The tier object itself is the first level of nesting.
    for key, child in doc.items():
        child_path = (tier, key)
        _check_key(key, child_path)
        _walk(child, child_path, 1, limits.max_depth)
    if tier == APP_METADATA:
        for key in doc:
            if key in RESERVED_APP_METADATA_KEYS:
                raise ReservedKeyError(
                    f"app_metadata.{key} is reserved and cannot be set; choose another key name.",
                    path=(tier, key),
                )
    size = compact_size(doc)
    if size > limits.tier_max_bytes:
        raise SizeLimitError(
            f"{tier} is {size:,} bytes as compact JSON; the limit is "
            f"{limits.tier_max_bytes:,} bytes.",
            path=path,
        )
    validator = rules.validators.get(tier)
    if validator is not None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
        if error is not None:
            error_path: Path = (tier, *error.absolute_path)
            raise SchemaViolationError(
                f"{format_path(error_path)} does not match the tenant's schema: {error.message}",
                path=error_path,
            )
