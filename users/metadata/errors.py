"""The refusals of the metadata rules: `MetadataError` and one subclass per kind of refusal.

Each is a `users.errors.Refusal` (API code `invalid_body`, HTTP status 400) and also a
`ValueError`, carrying the offending `path` and a message a person can act on.
"""

from __future__ import annotations

from users.errors import Path, Refusal


class MetadataError(Refusal, ValueError):
    """A refused document. `code` is the API error code, `path` where it went wrong."""

    code = "invalid_body"
    status = 400

    def __init__(self, message: str, *, path: Path = ()) -> None:
        super().__init__(message, path=path)


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
