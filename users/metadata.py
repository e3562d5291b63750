"""The metadata rules of SPEC.md sections 2, 3, 4 and 9, as pure Python.

No Django here: this module is the executable form of the spec. Every refusal is a
`MetadataError` subclass carrying the offending `path` and a message a person can act on.

Paths are tuples: `("user_metadata", "addresses", 0, "city")`, shown as
`user_metadata.addresses[0].city`.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, TypeAlias

import jsonschema

JSONValue: TypeAlias = Any
Doc: TypeAlias = dict[str, Any]
Path: TypeAlias = tuple[str | int, ...]
MergeMode: TypeAlias = Literal["merge", "replace"]
DeniedMode: TypeAlias = Literal["refuse", "strip"]

USER_METADATA = "user_metadata"
APP_METADATA = "app_metadata"
TIERS: tuple[str, str] = (USER_METADATA, APP_METADATA)

RESERVED_APP_METADATA_KEYS: frozenset[str] = frozenset(
    {
        "__tenant",
        "_id",
        "blocked",
        "clientID",
        "created_at",
        "email_verified",
        "email",
        "globalClientID",
        "global_client_id",
        "identities",
        "lastIP",
        "lastLogin",
        "loginsCount",
        "metadata",
        "multifactor_last_modified",
        "multifactor",
        "updated_at",
        "user_id",
    }
)

# Keys that look like they grant access; in user_metadata the end user could change them.
ACCESS_LOOKING_KEYS: frozenset[str] = frozenset(
    {"role", "roles", "plan", "admin", "permissions", "groups"}
)

# The writable root attributes of the normalized profile (SPEC.md section 7) and their limits.
PROFILE_STRING_FIELDS: dict[str, int] = {
    "email": 254,
    "username": 128,
    "phone_number": 32,
    "name": 300,
    "given_name": 150,
    "family_name": 150,
    "nickname": 300,
    "picture": 2000,
}
PROFILE_BOOLEAN_FIELDS: tuple[str, ...] = ("email_verified", "phone_verified", "blocked")
READ_ONLY_FIELDS: tuple[str, ...] = (
    "user_id",
    "identities",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
)
# Accepted in a body but not part of the audited profile.
CREDENTIAL_FIELDS: tuple[str, ...] = ("password", "connection")
CREATE_ONLY_FIELDS: tuple[str, ...] = ("user_id",)

PASSWORD_MIN_LENGTH = 8
PASSWORD_MAX_LENGTH = 512
USER_ID_MAX_LENGTH = 255

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\Z")
_USER_ID = re.compile(r"^[^\s]+\Z")


# --- errors -------------------------------------------------------------------------------


class MetadataError(ValueError):
    """A refused document. `code` is the API error code, `path` where it went wrong."""

    code = "invalid_body"

    def __init__(self, message: str, *, path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    @property
    def path_str(self) -> str:
        return format_path(self.path)


class InvalidBodyError(MetadataError):
    """The body or a value in it has the wrong shape or type."""


class InvalidKeyError(MetadataError):
    """A key name that may not be stored: dotted, with `$`, empty or with a NUL."""


class InvalidValueError(MetadataError):
    """A value that cannot be stored as JSON everywhere (NaN, NUL, lone surrogate, non-JSON)."""


class ReservedKeyError(MetadataError):
    """A reserved `app_metadata` root key."""


class SizeLimitError(MetadataError):
    """A tier (or signup metadata) over its size limit."""


class DepthLimitError(MetadataError):
    """A tier nested deeper than allowed."""


class UnknownPropertyError(MetadataError):
    """A root property the profile does not have."""


class ReadOnlyPropertyError(MetadataError):
    """A root property that may be read but never written."""


class DeniedAttributeError(MetadataError):
    """An attribute on the tenant's deny list, written explicitly."""


class SchemaViolationError(MetadataError):
    """A tier that does not satisfy the tenant's JSON Schema for it."""


class MissingKeyError(MetadataError):
    """A delete of a key that is not there."""


# --- configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    tier_max_bytes: int = 16 * 1024
    max_depth: int = 10
    profile_warn_bytes: int = 10 * 1024
    signup_max_properties: int = 10
    signup_max_name_length: int = 100
    signup_max_value_length: int = 500


@dataclass(frozen=True)
class Rules:
    """A tenant's rules: limits, deny list and optional JSON Schema per tier."""

    limits: Limits = field(default_factory=Limits)
    deny_list: frozenset[str] = frozenset()
    schemas: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @cached_property
    def validators(self) -> dict[str, jsonschema.protocols.Validator]:
        compiled: dict[str, jsonschema.protocols.Validator] = {}
        for tier, schema in self.schemas.items():
            if schema:
                cls = jsonschema.validators.validator_for(schema)
                compiled[tier] = cls(schema)
        return compiled


DEFAULT_RULES = Rules()
DEFAULT_LIMITS = Limits()


# --- paths --------------------------------------------------------------------------------


def format_path(path: Iterable[str | int]) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def parse_deny_entry(entry: str) -> tuple[str, ...]:
    """`user_metadata.ssn` -> ("user_metadata", "ssn"); `gender` -> ("gender",)."""
    return tuple(part for part in entry.split(".") if part)


# --- values and key names -----------------------------------------------------------------


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


# --- merge, replace, delete ---------------------------------------------------------------


def _require_tier_object(tier: str, value: JSONValue) -> Doc:
    if value is None:
        raise InvalidBodyError(
            f"{tier} cannot be null. Send {{}} to clear it, or an object to merge.",
            path=(tier,),
        )
    if not isinstance(value, dict):
        raise InvalidBodyError(
            f"{tier} must be an object, not {type(value).__name__}.", path=(tier,)
        )
    return value


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


def delete_key(doc: Mapping[str, JSONValue], key: str, *, tier: str) -> Doc:
    """Remove one first-level key; refuses a key that is not there."""
    if key not in doc:
        raise MissingKeyError(f"{tier} has no key {key!r} to delete.", path=(tier, key))
    return {k: v for k, v in doc.items() if k != key}


# --- deny list ----------------------------------------------------------------------------


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


# --- whole-body updates -------------------------------------------------------------------


def empty_profile() -> Doc:
    """The audited profile of a user with nothing set."""
    profile: Doc = dict.fromkeys(PROFILE_STRING_FIELDS)
    profile.update(dict.fromkeys(PROFILE_BOOLEAN_FIELDS, False))
    profile[USER_METADATA] = {}
    profile[APP_METADATA] = {}
    return profile


@dataclass(frozen=True)
class Update:
    """The outcome of applying a body: the new profile plus what does not belong in it."""

    profile: Doc
    password: str | None = None
    connection: str | None = None
    user_id: str | None = None
    dropped: tuple[str, ...] = ()


def _check_root(body: Mapping[str, JSONValue], allowed_extra: tuple[str, ...]) -> None:
    unknown: list[str] = []
    for key in body:
        if key in READ_ONLY_FIELDS and key not in allowed_extra:
            raise ReadOnlyPropertyError(f"{key} is read-only and cannot be set.", path=(key,))
        known = (
            key in PROFILE_STRING_FIELDS
            or key in PROFILE_BOOLEAN_FIELDS
            or key in TIERS
            or key in CREDENTIAL_FIELDS
            or key in allowed_extra
        )
        if not known:
            unknown.append(str(key))
    if unknown:
        raise UnknownPropertyError(
            f"Payload validation error: 'Additional properties not allowed: {', '.join(unknown)}'",
            path=(unknown[0],),
        )


def _check_root_value(key: str, value: JSONValue) -> None:
    path: Path = (key,)
    if key in PROFILE_STRING_FIELDS:
        if value is None:
            return
        if not isinstance(value, str):
            raise InvalidBodyError(
                f"{key} must be a string or null, not {type(value).__name__}.", path=path
            )
        _check_string(value, path, "The value")
        limit = PROFILE_STRING_FIELDS[key]
        if len(value) > limit:
            raise InvalidBodyError(
                f"{key} is {len(value)} characters; the limit is {limit}.", path=path
            )
        if key == "email" and not _EMAIL.match(value):
            raise InvalidBodyError(f"email {value!r} is not an email address.", path=path)
    elif key in PROFILE_BOOLEAN_FIELDS:
        if not isinstance(value, bool):
            raise InvalidBodyError(
                f"{key} must be true or false, not {type(value).__name__}.", path=path
            )
    elif key == "password":
        if not isinstance(value, str):
            raise InvalidBodyError("password must be a string.", path=path)
        _check_string(value, path, "The password")
        if not PASSWORD_MIN_LENGTH <= len(value) <= PASSWORD_MAX_LENGTH:
            raise InvalidBodyError(
                f"password must be {PASSWORD_MIN_LENGTH} to {PASSWORD_MAX_LENGTH} characters.",
                path=path,
            )
    elif key == "connection":
        if not isinstance(value, str) or not value:
            raise InvalidBodyError("connection must be a connection name.", path=path)
        _check_string(value, path, "connection")
    elif key == "user_id":
        if (
            not isinstance(value, str)
            or not _USER_ID.match(value)
            or len(value) > USER_ID_MAX_LENGTH
        ):
            raise InvalidBodyError(
                f"user_id must be a string of 1 to {USER_ID_MAX_LENGTH} characters without spaces.",
                path=path,
            )
        _check_string(value, path, "user_id")


def apply_update(
    current: Mapping[str, JSONValue],
    body: JSONValue,
    rules: Rules = DEFAULT_RULES,
    *,
    mode: MergeMode = "merge",
    on_denied: DeniedMode = "refuse",
    allow_create_fields: bool = False,
) -> Update:
    """Apply a PATCH-style body to a profile (SPEC.md section 4).

    Root attributes replace stored values. Each tier merges at the first level
    (`mode="merge"`) or is replaced whole (`mode="replace"`). Deny-listed attributes are
    refused (explicit writes) or stripped and reported (`on_denied="strip"`). Nothing in
    `current` is modified; on any error nothing is returned.
    """
    if not isinstance(body, Mapping):
        raise InvalidBodyError(
            f"The body must be a JSON object, not {type(body).__name__}.", path=()
        )
    extra = CREATE_ONLY_FIELDS if allow_create_fields else ()
    dropped: list[str] = []
    # The deny list comes first: a denied attribute the profile does not have (`gender`) is
    # stripped, or refused naming the deny list, rather than refused as unknown.
    if rules.deny_list:
        if on_denied == "strip":
            body, dropped = strip_denied(body, rules.deny_list)
        else:
            refuse_denied(body, rules.deny_list)
    _check_root(body, extra)

    profile: Doc = {key: current[key] for key in current}
    for key, value in body.items():
        if key in TIERS:
            patch = _require_tier_object(key, value)
            # Names in the patch are checked before merging so that a null-valued bad key
            # is still reported.
            for name in patch:
                _check_key(name, (key, name))
            stored = current.get(key) or {}
            profile[key] = merge_tier(stored, patch) if mode == "merge" else dict(patch)
        else:
            _check_root_value(key, value)
            if key in PROFILE_STRING_FIELDS or key in PROFILE_BOOLEAN_FIELDS:
                profile[key] = value
    for tier in TIERS:
        if tier in body:
            validate_tier(tier, profile[tier], rules)

    password = body.get("password")
    connection = body.get("connection")
    user_id = body.get("user_id")
    return Update(
        profile=profile,
        password=password if isinstance(password, str) else None,
        connection=connection if isinstance(connection, str) else None,
        user_id=user_id if isinstance(user_id, str) else None,
        dropped=tuple(dropped),
    )


def prepare_create(
    body: JSONValue, rules: Rules = DEFAULT_RULES, *, on_denied: DeniedMode = "refuse"
) -> Update:
    """Validate the body of a new user; tiers are taken whole."""
    return apply_update(
        empty_profile(), body, rules, mode="replace", on_denied=on_denied, allow_create_fields=True
    )


# --- signup, warnings ---------------------------------------------------------------------


def validate_signup_metadata(doc: JSONValue, limits: Limits = DEFAULT_LIMITS) -> None:
    """Signup `user_metadata` (SPEC.md section 3): few properties, short names, short strings."""
    path: Path = (USER_METADATA,)
    if not isinstance(doc, dict):
        raise InvalidBodyError("user_metadata must be an object.", path=path)
    if len(doc) > limits.signup_max_properties:
        raise SizeLimitError(
            f"user_metadata has {len(doc)} properties; signup allows at most "
            f"{limits.signup_max_properties}.",
            path=path,
        )
    for key, value in doc.items():
        key_path: Path = (USER_METADATA, key)
        _check_key(key, key_path)
        if len(key) > limits.signup_max_name_length:
            raise SizeLimitError(
                f"The property name at {format_path(key_path)} is {len(key)} characters; "
                f"signup allows at most {limits.signup_max_name_length}.",
                path=key_path,
            )
        if not isinstance(value, str):
            raise InvalidBodyError(
                f"{format_path(key_path)} must be a string at signup, not {type(value).__name__}.",
                path=key_path,
            )
        _check_string(value, key_path, "The value")
        if len(value) > limits.signup_max_value_length:
            raise SizeLimitError(
                f"{format_path(key_path)} is {len(value)} characters; signup allows at most "
                f"{limits.signup_max_value_length}.",
                path=key_path,
            )


def access_key_warnings(user_metadata: Mapping[str, JSONValue]) -> list[str]:
    """Warnings for access-looking keys in user_metadata, which the end user can change."""
    return [
        f"user_metadata.{key} looks like access control, but the end user can change "
        "user_metadata; put it in app_metadata instead."
        for key in sorted(user_metadata)
        if key.lower() in ACCESS_LOOKING_KEYS
    ]


def profile_size_warning(
    profile: Mapping[str, JSONValue], limits: Limits = DEFAULT_LIMITS
) -> str | None:
    size = compact_size(profile)
    if size <= limits.profile_warn_bytes:
        return None
    return (
        f"This profile is {size:,} bytes; above {limits.profile_warn_bytes:,} bytes it makes "
        "tokens large. Move rarely used data out of the profile."
    )
