"""Request and response shapes of the Management API, as Auth0 documents them. Bodies are
checked by `users.metadata` (one place for the rules); these schemas describe them for
OpenAPI and refuse wrong types early. They are plain pydantic models: ninja's `Schema`
reads its input through Django-aware getters, several times slower on a page of users."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from users import metadata
from users.models import Identity, User
from users.times import iso_millis

JsonObject = dict[str, Any]


def api_time(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds: 2026-11-22T07:22:59.000Z (`users.times.iso_millis`)."""
    return None if moment is None else iso_millis(moment)


def _absent_not_null(schema: dict[str, Any]) -> None:
    """A property the API leaves out when it has no value is typed without `null` in the
    OpenAPI document, as in Auth0's: `string`, not `string | null`, and not required."""
    for prop in schema.get("properties", {}).values():
        options = prop.pop("anyOf", None)
        if options is not None:
            kept = [option for option in options if option.get("type") != "null"]
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept
        if prop.get("default", ...) is None:
            del prop["default"]


class IdentityOut(BaseModel):
    connection: str
    provider: str
    user_id: str
    isSocial: bool


class UserOut(BaseModel):
    """The normalized profile (SPEC.md section 7); with `fields`, only those are present.
    A property without a value is absent, never `null` (`users_out`); the tiers are always
    there, `{}` when empty."""

    model_config = ConfigDict(extra="forbid", json_schema_extra=_absent_not_null)

    user_id: str
    email: str | None = None
    email_verified: bool | None = None
    username: str | None = None
    phone_number: str | None = None
    phone_verified: bool | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    identities: list[IdentityOut] | None = None
    created_at: str | None = None
    updated_at: str | None = None
    last_login: str | None = None
    last_ip: str | None = None
    logins_count: int | None = None
    blocked: bool | None = None
    user_metadata: JsonObject | None = None
    app_metadata: JsonObject | None = None


class UsersPage(BaseModel):
    start: int
    limit: int
    length: int
    total: int
    users: list[UserOut]


# Request bodies are plain pydantic models (ninja's Schema drops unknown properties), which
# keep unknown properties for the rules to refuse with Auth0's message.
_NO_EXTRA = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})


class _ProfileBody(BaseModel):
    """The writable profile, as POST and PATCH take it."""

    model_config = _NO_EXTRA

    email: str | None = None
    username: str | None = None
    phone_number: str | None = None
    password: str | None = None
    verify_email: bool | None = None
    email_verified: bool | None = None
    phone_verified: bool | None = None
    blocked: bool | None = None
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    nickname: str | None = None
    picture: str | None = None
    user_metadata: JsonObject | None = None
    app_metadata: JsonObject | None = None


class UserCreate(_ProfileBody):
    """POST /users. Unknown properties are refused with Auth0's message (by the rules)."""

    connection: str
    user_id: str | None = None


class UserUpdate(_ProfileBody):
    """PATCH /users/{id}: root attributes replace; each tier merges at the first level,
    a key set to null is removed, `{}` clears the tier (SPEC.md section 4)."""

    connection: str | None = None


def body_of(payload: BaseModel) -> JsonObject:
    """What the client sent: the properties it set (null included), unknown ones too."""
    return {**payload.model_dump(exclude_unset=True), **(payload.model_extra or {})}


class ErrorOut(BaseModel):
    statusCode: int
    error: str
    message: str
    errorCode: str


class ExportField(BaseModel):
    name: str
    export_as: str | None = None


class ExportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    connection_id: str | None = None
    format: Literal["json", "csv"] = "json"
    fields: list[ExportField] | None = None


class JobOut(BaseModel):
    id: str
    type: Literal["users_export", "users_import"]
    status: Literal["pending", "processing", "completed", "failed"]
    created_at: str
    connection_id: str | None = None
    external_id: str | None = None
    format: str | None = None
    location: str | None = None
    percentage_done: int | None = None
    time_left_seconds: int | None = None
    summary: dict[str, int] | None = None
    fields: list[ExportField] | None = None


class RowErrorOut(BaseModel):
    code: str  # Auth0's import error code: CONFLICT_EMAIL, FORMAT, OBJECT_REQUIRED, ...
    message: str
    path: str
    errorCode: str  # ours, as the API's error bodies name it: user_exists, invalid_body, ...


class ImportErrorOut(BaseModel):
    user: JsonObject  # the row as given in the file, its secrets redacted
    errors: list[RowErrorOut]


_TIMES = ("created_at", "updated_at", "last_login")


def _shown(
    values: Mapping[str, Any], identities: list[JsonObject], fields: tuple[str, ...]
) -> JsonObject:
    """The fields that have a value: Auth0 leaves a property without one out (its schema
    allows no `null` there); the tiers are always objects."""
    out: JsonObject = {}
    for name in fields:
        if name == "identities":
            out[name] = identities
        elif name in metadata.TIERS:
            out[name] = values[name] or {}
        elif values[name] is None:
            continue
        elif name in _TIMES:
            out[name] = iso_millis(values[name])
        else:
            out[name] = values[name]
    return out


def _identity(connection: str, provider: str, user_id: str, is_social: bool) -> JsonObject:
    return {
        "connection": connection,
        "provider": provider,
        "user_id": user_id,
        "isSocial": is_social,
    }


def users_out(pks: Sequence[int], fields: tuple[str, ...]) -> list[JsonObject]:
    """Users by primary key, in that order, as the API shows them, with only `fields`
    (user_id always): plain values and one query for their identities, no model instances
    (a page of 50 costs half as much)."""
    if not pks:
        return []
    columns = [name for name in fields if name != "identities"]
    rows = {row["pk"]: row for row in User.objects.filter(pk__in=pks).values("pk", *columns)}
    identities: dict[int, list[JsonObject]] = defaultdict(list)
    if "identities" in fields:
        found = (
            Identity.objects.filter(user_id__in=pks)
            .order_by("pk")
            .values_list("user_id", "connection__name", "provider", "provider_user_id", "is_social")
        )
        for user_pk, connection, provider, provider_user_id, is_social in found:
            identities[user_pk].append(_identity(connection, provider, provider_user_id, is_social))
    return [_shown(rows[pk], identities[pk], fields) for pk in pks if pk in rows]
