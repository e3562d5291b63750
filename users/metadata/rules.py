"""What the metadata rules are made of: the type aliases used throughout, the fixed values of
SPEC.md (tier names, reserved and access-looking keys, the writable and read-only profile
fields and their limits) and a tenant's configurable `Limits` and `Rules`.

Only definitions here; the checks that apply them live in the sibling modules.
"""

from __future__ import annotations

from collections.abc import Mapping
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
