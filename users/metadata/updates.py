"""Whole bodies against a profile: applying an update or create body (SPEC.md section 4) as
an `Update`, checking signup `user_metadata` (section 3), and the warnings shown after a write.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from users.metadata.documents import merge_tier, refuse_denied, strip_denied
from users.metadata.errors import (
    InvalidBodyError,
    ReadOnlyPropertyError,
    SizeLimitError,
    UnknownPropertyError,
)
from users.metadata.rules import (
    ACCESS_LOOKING_KEYS,
    APP_METADATA,
    CREATE_ONLY_FIELDS,
    CREDENTIAL_FIELDS,
    DEFAULT_LIMITS,
    DEFAULT_RULES,
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PROFILE_BOOLEAN_FIELDS,
    PROFILE_STRING_FIELDS,
    READ_ONLY_FIELDS,
    TIERS,
    USER_ID_MAX_LENGTH,
    USER_METADATA,
    DeniedMode,
    Doc,
    JSONValue,
    Limits,
    MergeMode,
    Path,
    Rules,
)
from users.metadata.values import _check_key, _check_string, compact_size, validate_tier

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\Z")
# A user_id is a path segment of every URL that addresses the user (console and API): no
# spaces or control characters, no `/` or `\` (browsers read `\` as `/`), and no `..`.
_USER_ID = re.compile(r"^[^\s\x00-\x1f\x7f/\\]+\Z")


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
            or ".." in value
            or len(value) > USER_ID_MAX_LENGTH
        ):
            raise InvalidBodyError(
                f"user_id must be a string of 1 to {USER_ID_MAX_LENGTH} characters without "
                "spaces, control characters, '/', '\\' or '..' (it is part of the user's URLs).",
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
    """Sign-up `user_metadata` (Auth0's rules and texts): an object of at most 10 properties,
    names up to 100 characters, values strings up to 500; then the key-name rules."""
    path: Path = (USER_METADATA,)
    if not isinstance(doc, dict):
        raise InvalidBodyError("invalid user_metadata type (expected object)", path=path)
    if len(doc) > limits.signup_max_properties:
        raise SizeLimitError(
            f"invalid user_metadata (too many properties, max {limits.signup_max_properties})",
            path=path,
        )
    for key, value in doc.items():
        key_path: Path = (USER_METADATA, key)
        _check_key(key, key_path)
        if len(key) > limits.signup_max_name_length:
            raise SizeLimitError(
                f"invalid user_metadata.{key} (property name too long, max "
                f"{limits.signup_max_name_length})",
                path=key_path,
            )
        if not isinstance(value, str):
            raise InvalidBodyError(
                f"invalid user_metadata.{key} type (only strings are allowed)", path=key_path
            )
        _check_string(value, key_path, "The value")
        if len(value) > limits.signup_max_value_length:
            raise SizeLimitError(
                f"invalid user_metadata.{key} (value too long, max "
                f"{limits.signup_max_value_length})",
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
