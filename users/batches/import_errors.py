"""A refused import row as Auth0 reports it (`GET /api/v2/jobs/{id}/errors`): the row as it
was given in the file, its secrets redacted, and for each refusal Auth0's import error code
(`OBJECT_REQUIRED`, `FORMAT`, `CONFLICT_EMAIL`, `DUPLICATED_USER`, ...) beside ours.

The import engine (`users.batches.imports`) writes each refused row's record once, with the
redacted row (`given`) and the Auth0 codes (`auth0_codes`) next to the fields the console
has always shown (`row`, `user`, `errors`); `auth0_failure` turns a record into the API's
shape, and also reads records written before `given` and `auth0_codes` existed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from users import metadata
from users.errors import Refusal
from users.imports import BadRow
from users.services.errors import ServiceError, UserExists

# What replaces a secret of a row in the refused-rows file and the API's errors (as Auth0
# shows a redacted hash); the key stays, so the row still shows what was given.
REDACTED = "*****"
# Root properties of an import row whose values are secrets: a password, a hash (bcrypt or
# Auth0's custom_password_hash), MFA enrolments (TOTP secrets).
SECRET_FIELDS = frozenset({"password", "password_hash", "custom_password_hash", "mfa_factors"})
# Auth0's import error codes, as its documentation lists them.
AUTH0_CODES = frozenset(
    {
        "ANY_OF_MISSING",
        "ARRAY_LENGTH_LONG",
        "ARRAY_LENGTH_SHORT",
        "CONFLICT",
        "CONFLICT_EMAIL",
        "CONFLICT_USERNAME",
        "CONNECTION_NOT_FOUND",
        "DUPLICATED_USER",
        "ENUM_MISMATCH",
        "FORMAT",
        "INVALID_TYPE",
        "MAX_LENGTH",
        "MAXIMUM",
        "MFA_FACTORS_FAILED",
        "MIN_LENGTH",
        "MINIMUM",
        "NOT_PASSED",
        "OBJECT_REQUIRED",
        "PATTERN",
    }
)
# A refusal nothing more specific describes: the row does not pass the user schema.
FALLBACK = "NOT_PASSED"


class DuplicatedUser(ServiceError):
    """The same user (email in a connection, or user_id) is in the file more than once."""


def redacted(row: Any) -> Any:
    """The row as given, each secret replaced by REDACTED; a CSV line that could not be read
    (`BadRow`) is None."""
    if isinstance(row, BadRow):
        return None
    if not isinstance(row, Mapping):
        return row
    return {key: REDACTED if key in SECRET_FIELDS else value for key, value in row.items()}


# jsonschema's wording of a failed keyword (a tenant's own JSON Schema for a tier), mapped
# to the code Auth0's validator gives the same keyword.
_SCHEMA_WORDS = (
    ("is a required property", "OBJECT_REQUIRED"),
    ("is not of type", "INVALID_TYPE"),
    ("is not one of", "ENUM_MISMATCH"),
    ("was expected", "ENUM_MISMATCH"),
    ("does not match", "PATTERN"),
    ("is not a '", "FORMAT"),
    ("is too long", "MAX_LENGTH"),
    ("is too short", "MIN_LENGTH"),
    ("should be non-empty", "MIN_LENGTH"),
    ("greater than", "MAXIMUM"),
    ("less than", "MINIMUM"),
    ("is not valid under any of the given schemas", "ANY_OF_MISSING"),
    ("should not be valid under", "NOT_PASSED"),
)


def _schema_code(message: str) -> str:
    said = message.partition("does not match the tenant's schema: ")[2]
    return next((code for words, code in _SCHEMA_WORDS if words in said), FALLBACK)


def _value_code(key: str, value: Any) -> str:
    """The code of a refused root property, from its value."""
    if key in metadata.TIERS or key in metadata.PROFILE_BOOLEAN_FIELDS:
        return "INVALID_TYPE"
    if not isinstance(value, str):
        return "INVALID_TYPE"
    if key == "password":
        return "MIN_LENGTH" if len(value) < metadata.PASSWORD_MIN_LENGTH else "MAX_LENGTH"
    limit = metadata.PROFILE_STRING_FIELDS.get(key)
    if key == "user_id":
        limit = metadata.USER_ID_MAX_LENGTH
    if limit is not None and len(value) > limit:
        return "MAX_LENGTH"
    return "PATTERN" if key == "user_id" else "FORMAT"


def auth0_code(error: Refusal, row: Any) -> str:
    """Auth0's import error code for a refusal of `row` (as given in the file)."""
    if isinstance(error, DuplicatedUser):
        return "DUPLICATED_USER"
    if isinstance(error, UserExists):
        taken_id = error.message.startswith(("A user with the user_id", "Some user_ids"))
        return "CONFLICT" if taken_id else "CONFLICT_EMAIL"
    if isinstance(row, BadRow):
        return "FORMAT"
    if not isinstance(row, Mapping):
        return "INVALID_TYPE"
    if isinstance(
        error,
        metadata.UnknownPropertyError
        | metadata.ReadOnlyPropertyError
        | metadata.ReservedKeyError
        | metadata.DeniedAttributeError,
    ):
        return "NOT_PASSED"  # Auth0's schema allows no other property, and forbids these keys
    if isinstance(error, metadata.InvalidKeyError):
        return "PATTERN"
    if isinstance(error, metadata.SizeLimitError):
        return "MAX_LENGTH"
    if isinstance(error, metadata.DepthLimitError):
        return "MAXIMUM"
    if isinstance(error, metadata.InvalidValueError):
        return "FORMAT"
    if isinstance(error, metadata.SchemaViolationError):
        return _schema_code(error.message)
    if error.message.startswith("The connection "):
        return "CONNECTION_NOT_FOUND"
    if error.message.startswith("password_hash must"):
        return "PATTERN"
    key = error.path[0] if error.path else None
    if key == "email" and row.get("email") is None:
        return "OBJECT_REQUIRED"
    if isinstance(key, str) and key in row:
        return _value_code(key, row[key])
    return FALLBACK


_OUR_TO_AUTH0 = {"user_exists": "CONFLICT"}  # for records written before `auth0_codes`


def auth0_failure(record: Mapping[str, Any]) -> dict[str, Any]:
    """A refused-rows file record as Auth0's `GET /jobs/{id}/errors` shows it:
    `{user: <the row as given, secrets redacted>, errors: [{code, message, path, errorCode}]}`
    with Auth0's code in `code` and ours in `errorCode`."""
    errors = record.get("errors") or []
    codes = record.get("auth0_codes") or [_OUR_TO_AUTH0.get(e["code"], FALLBACK) for e in errors]
    if "given" in record:
        user = record["given"] if isinstance(record["given"], Mapping) else {}
    else:
        user = {"email": record["user"]} if record.get("user") else {}
    return {
        "user": user,
        "errors": [
            {
                "code": code,
                "message": error["message"],
                "path": error.get("path", ""),
                "errorCode": error["code"],
            }
            for error, code in zip(errors, codes, strict=False)
        ],
    }
