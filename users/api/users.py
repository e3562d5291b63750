"""/api/v2/users and /api/v2/users-by-email (SPEC.md sections 4 and 6)."""

from __future__ import annotations

from typing import Any

from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import BaseModel

from users import metadata, services
from users.api import self_service
from users.api.auth import ApiRequest, ClientToken, api_context, require_scope
from users.api.errors import ApiError
from users.api.schemas import (
    ErrorOut,
    UserCreate,
    UserOut,
    UsersPage,
    UserUpdate,
    body_of,
    users_out,
)
from users.api.self_service import EndUser
from users.models import Scope, Tenant, User
from users.search import search_users
from users.search.query import OUTPUT_FIELDS, selected_fields
from users.selectors import tenant_user

router = Router(tags=["users"])
ERRORS: dict[int, type[BaseModel]] = dict.fromkeys(
    (400, 401, 403, 404, 409, 412, 413, 429, 503), ErrorOut
)
# GET and PATCH /users/{id} also take an end user's own access token (self-service).
CLIENT_OR_END_USER = ClientToken(end_users=True)


class ListParams(Schema):
    q: str = ""
    search_engine: str = "v3"
    page: int = 0
    per_page: int = 50
    include_totals: bool = False
    sort: str | None = None
    fields: str | None = None
    include_fields: bool = True


def _fields(fields: str | None, include_fields: bool) -> tuple[str, ...]:
    """The fields to show: `fields` (comma-separated) included or excluded."""
    names = [name.strip() for name in fields.split(",") if name.strip()] if fields else None
    return selected_fields(names, include_fields)


def _user(tenant: Tenant, user_id: str) -> User:
    """The tenant's user with that id, everything loaded for the response, or 404."""
    user = tenant_user(tenant, user_id)
    if user is None:
        raise services.UserNotFound("The user does not exist.")
    return user


def _etag(user: User) -> str:
    return f'"{user.user_id}:{user.version}"'


def _expected_version(request: ApiRequest, user: User) -> int | None:
    """The version `If-Match` names; 412 when it names another (nothing is changed)."""
    wanted = request.headers.get("If-Match")
    if wanted is None or wanted.strip() == "*":
        return None
    if _etag(user) not in [tag.strip().removeprefix("W/") for tag in wanted.split(",")]:
        raise ApiError(
            412,
            f"The user has changed (it is now version {user.version}); fetch it again.",
            "precondition_failed",
        )
    return user.version


@router.get("/users", response={200: list[UserOut] | UsersPage, **ERRORS}, exclude_unset=True)
def list_users(request: ApiRequest, params: Query[ListParams]) -> Any:
    """Search users with `q` (Lucene syntax, search_engine v3)."""
    client = require_scope(request, Scope.READ_USERS)
    if params.search_engine != "v3":
        raise ApiError(
            400,
            f"search_engine {params.search_engine!r} is not supported; use v3.",
            "invalid_query_string",
        )
    result = search_users(
        client.tenant,
        params.q,
        sort=params.sort,
        page=params.page,
        per_page=params.per_page,
        fields=_fields(params.fields, params.include_fields),
        count=params.include_totals,
        load=False,
    )
    users = users_out(result.pks, result.fields)
    if not params.include_totals:
        return users
    return {
        "start": params.page * params.per_page,
        "limit": params.per_page,
        "length": len(users),
        "total": result.total,
        "users": users,
    }


@router.post("/users", response={201: UserOut, **ERRORS}, exclude_unset=True)
def create_user(request: ApiRequest, payload: UserCreate) -> Any:
    client = require_scope(request, Scope.CREATE_USERS)
    body = body_of(payload)
    body.pop("verify_email", None)  # no email is sent by this server
    user = services.user_create(tenant=client.tenant, body=body, by=api_context(request))
    return Status(201, users_out([user.pk], OUTPUT_FIELDS)[0])


@router.get(
    "/users/{id}", response={200: UserOut, **ERRORS}, exclude_unset=True, auth=CLIENT_OR_END_USER
)
def get_user(
    request: ApiRequest, id: str, fields: str | None = None, include_fields: bool = True
) -> Any:
    """With an end user's token (read:current_user): their own user only."""
    who = request.auth
    tenant = (
        who.tenant if isinstance(who, EndUser) else require_scope(request, Scope.READ_USERS).tenant
    )
    user = _user(tenant, id)
    request.response_etag = _etag(user)  # type: ignore[attr-defined]
    return users_out([user.pk], _fields(fields, include_fields))[0]


@router.patch(
    "/users/{id}", response={200: UserOut, **ERRORS}, exclude_unset=True, auth=CLIENT_OR_END_USER
)
def update_user(request: ApiRequest, id: str, payload: UserUpdate) -> Any:
    """With an end user's token (update:current_user_metadata): their own user_metadata only."""
    if isinstance(request.auth, EndUser):
        return _update_own_metadata(request, request.auth, id, body_of(payload))
    client = require_scope(request, Scope.UPDATE_USERS, Scope.UPDATE_USERS_APP_METADATA)
    body = body_of(payload)
    body.pop("verify_email", None)
    if Scope.UPDATE_USERS not in client.scopes and set(body) - {metadata.APP_METADATA}:
        raise ApiError(
            403,
            "This client may change only app_metadata (scope update:users_app_metadata).",
            "insufficient_scope",
        )
    user = _user(client.tenant, id)
    expected = _expected_version(request, user)
    updated = services.user_update(
        user=user, body=body, by=api_context(request), expected_version=expected
    )
    request.response_etag = _etag(updated)  # type: ignore[attr-defined]
    return users_out([updated.pk], OUTPUT_FIELDS)[0]


def _update_own_metadata(request: ApiRequest, end_user: EndUser, id: str, body: Any) -> Any:
    """An end user's PATCH of their own user_metadata (the token's checks, authorize, ran
    before the body was read): create/delete scopes by what the change adds or removes, then
    the write path as the end user on channel `profile` (which refuses app_metadata again).
    Without If-Match the version the scopes were checked against is expected, so a change
    made meanwhile is a 412, not a key added without create:current_user_metadata."""
    if set(body) - self_service.WRITABLE:  # authorize refused these already
        raise self_service.insufficient_scope("update:users", "update:users_app_metadata")
    user = _user(end_user.tenant, id)
    expected = _expected_version(request, user)
    self_service.check_metadata_change(
        end_user, user.user_metadata, body.get(metadata.USER_METADATA, {})
    )
    updated = services.user_update(
        user=user,
        body=body,
        by=self_service.context(request, user),
        expected_version=user.version if expected is None else expected,
    )
    request.response_etag = _etag(updated)  # type: ignore[attr-defined]
    return users_out([updated.pk], OUTPUT_FIELDS)[0]


@router.delete("/users/{id}", response={204: None, **ERRORS})
def delete_user(request: ApiRequest, id: str) -> Any:
    client = require_scope(request, Scope.DELETE_USERS)
    user = _user(client.tenant, id)
    expected = _expected_version(request, user)
    services.user_delete(user=user, by=api_context(request), expected_version=expected)
    return Status(204, None)


@router.get("/users-by-email", response={200: list[UserOut], **ERRORS}, exclude_unset=True)
def users_by_email(
    request: ApiRequest, email: str, fields: str | None = None, include_fields: bool = True
) -> Any:
    client = require_scope(request, Scope.READ_USERS)
    if not metadata.storable_text(email):
        raise ApiError(
            400, "email has a NUL character or a lone surrogate.", "invalid_query_string"
        )
    selected = _fields(fields, include_fields)
    matching = User.objects.filter(tenant=client.tenant, email__lower=email.lower())
    return users_out(
        list(matching.order_by("created_at", "pk").values_list("pk", flat=True)), selected
    )
