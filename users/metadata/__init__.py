"""The metadata rules of SPEC.md sections 2, 3, 4 and 9, as pure Python.

No Django here: this package is the executable form of the spec. Every refusal is a
`MetadataError` subclass (a `users.errors.Refusal`) carrying the offending `path` and a
message a person can act on.

Paths are tuples: `("user_metadata", "addresses", 0, "city")`, shown as
`user_metadata.addresses[0].city` by `format_path`.

One concern per module, all re-exported, so callers write `from users import metadata` and
`metadata.apply_update(...)`:

- `errors`: `MetadataError` and its subclasses, one per kind of refusal.
- `rules`: type aliases, the fixed values of the spec (tiers, reserved keys, profile fields
  and their limits) and a tenant's `Limits` and `Rules`.
- `values`: key-name and value checks, compact-JSON size, and `validate_tier`.
- `documents`: first-level merge, key delete, and the deny list.
- `updates`: applying a whole body (`apply_update`, `prepare_create`, `Update`), signup
  metadata, and the warnings shown after a write.
"""

from users.errors import format_path
from users.metadata.documents import (
    delete_key,
    denied_paths,
    first_level_changes,
    merge_tier,
    parse_deny_entry,
    refuse_denied,
    strip_denied,
)
from users.metadata.errors import (
    DeniedAttributeError,
    DepthLimitError,
    InvalidBodyError,
    InvalidKeyError,
    InvalidValueError,
    MetadataError,
    MissingKeyError,
    ReadOnlyPropertyError,
    ReservedKeyError,
    SchemaViolationError,
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
    RESERVED_APP_METADATA_KEYS,
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
from users.metadata.updates import (
    Update,
    access_key_warnings,
    apply_update,
    empty_profile,
    prepare_create,
    profile_size_warning,
    validate_signup_metadata,
)
from users.metadata.values import (
    compact_json,
    compact_size,
    json_error_message,
    parse_json,
    storable_text,
    validate_tier,
)

__all__ = [
    "ACCESS_LOOKING_KEYS",
    "APP_METADATA",
    "CREATE_ONLY_FIELDS",
    "CREDENTIAL_FIELDS",
    "DEFAULT_LIMITS",
    "DEFAULT_RULES",
    "PASSWORD_MAX_LENGTH",
    "PASSWORD_MIN_LENGTH",
    "PROFILE_BOOLEAN_FIELDS",
    "PROFILE_STRING_FIELDS",
    "READ_ONLY_FIELDS",
    "RESERVED_APP_METADATA_KEYS",
    "TIERS",
    "USER_ID_MAX_LENGTH",
    "USER_METADATA",
    "DeniedAttributeError",
    "DeniedMode",
    "DepthLimitError",
    "Doc",
    "InvalidBodyError",
    "InvalidKeyError",
    "InvalidValueError",
    "JSONValue",
    "Limits",
    "MergeMode",
    "MetadataError",
    "MissingKeyError",
    "Path",
    "ReadOnlyPropertyError",
    "ReservedKeyError",
    "Rules",
    "SchemaViolationError",
    "SizeLimitError",
    "UnknownPropertyError",
    "Update",
    "access_key_warnings",
    "apply_update",
    "compact_json",
    "compact_size",
    "delete_key",
    "denied_paths",
    "empty_profile",
    "first_level_changes",
    "format_path",
    "json_error_message",
    "merge_tier",
    "parse_deny_entry",
    "parse_json",
    "prepare_create",
    "profile_size_warning",
    "refuse_denied",
    "storable_text",
    "strip_denied",
    "validate_signup_metadata",
    "validate_tier",
]
