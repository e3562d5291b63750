"""`POST /dbconnections/signup`: Auth0's database sign-up, through the write path.

Errors use Auth0's sign-up shape `{name, code, description, statusCode}` plus `message`
(auth0-python reads only `message`/`error_description`). Checked in Auth0's order:
`user_metadata` first, then the password policy, then uniqueness. Unknown top-level keys
(`state`, `captcha`) are ignored; `app_metadata` is refused, ever. The user is created on the
`signup` channel as `end_user:<their user_id>`, so the tenant's deny list is stripped.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from users import metadata, services
from users.audit import Actor, Context
from users.auth import password_policy
from users.auth.tenancy import auth_tenant
from users.errors import Refusal
from users.models import (
    ActorKind,
    Application,
    Channel,
    Connection,
    Strategy,
    Tenant,
    new_user_id,
)

# What a sign-up may set on the new user (Auth0's documented fields); anything else in the
# body (state, captcha, ...) is ignored.
PROFILE_FIELDS = (
    "email",
    "username",
    "given_name",
    "family_name",
    "name",
    "nickname",
    "picture",
    "phone_number",
)
SIGNUP_STRATEGIES = (Strategy.DATABASE,)


class SignupRefused(Exception):
    """A refusal, with its body in Auth0's sign-up shape."""

    def __init__(
        self, code: str, description: Any, *, name: str = "BadRequestError", status: int = 400
    ) -> None:
        super().__init__(code)
        self.body: dict[str, Any] = {
            "name": name,
            "code": code,
            "description": description,
            "message": description if isinstance(description, str) else code,
            "statusCode": status,
        }
        self.status = status

    @classmethod
    def weak_password(cls, body: dict[str, Any]) -> SignupRefused:
        """Auth0's whole PasswordStrengthError body (with its `policy` text)."""
        refused = cls("invalid_password", body["description"], name="PasswordStrengthError")
        refused.body = body
        return refused


def _body(request: HttpRequest) -> dict[str, Any]:
    try:
        body = metadata.parse_json(request.body or b"")
    except metadata.MetadataError as error:
        raise SignupRefused("invalid_body", error.message) from None
    if not isinstance(body, dict):
        raise SignupRefused("invalid_body", "The body must be a JSON object.")
    return body


def _string(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str) or not value:
        raise SignupRefused("invalid_body", f"{name} is required and must be a string.")
    return value


def _application(tenant: Tenant, body: dict[str, Any]) -> Application:
    client_id = _string(body, "client_id")
    application = Application.objects.filter(tenant=tenant, client_id=client_id).first()
    if application is None:
        raise SignupRefused(
            "invalid_client", f"No application of this tenant has the client_id {client_id!r}."
        )
    return application


def _connection(tenant: Tenant, body: dict[str, Any]) -> Connection:
    name = _string(body, "connection")
    connection = Connection.objects.filter(tenant=tenant, name=name).first()
    if connection is None or connection.strategy not in SIGNUP_STRATEGIES:
        raise SignupRefused(
            "invalid_connection", f"{name!r} is not a database connection of this tenant."
        )
    if connection.options.get("disable_signup"):
        raise SignupRefused("signup_disabled", f"Sign-ups are disabled on {name}.")
    return connection


def _user_metadata(body: dict[str, Any]) -> dict[str, Any] | None:
    if "user_metadata" not in body or body["user_metadata"] is None:
        return None
    doc = body["user_metadata"]
    try:
        metadata.validate_signup_metadata(doc)
    except metadata.MetadataError as error:
        # Auth0 puts these texts in both `code` and `description`.
        raise SignupRefused(error.message, error.message) from None
    return dict(doc)


def _new_user_body(body: dict[str, Any], connection: Connection) -> dict[str, Any]:
    """The create body for the write path: the profile fields given, the password, a user_id
    made here (so the audit event can name the end user), and the user_metadata."""
    new = {name: body[name] for name in PROFILE_FIELDS if body.get(name) is not None}
    new["connection"] = connection.name
    new["password"] = body["password"]
    new["user_id"] = new_user_id(connection.provider)
    user_metadata = _user_metadata(body)
    if user_metadata is not None:
        new["user_metadata"] = user_metadata
    return new


def _created(user: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Auth0's answer: `_id` without the provider prefix, the full `user_id`, the email, and
    the profile fields that were given."""
    out: dict[str, Any] = {
        "_id": user.user_id.partition("|")[2] or user.user_id,
        "user_id": user.user_id,
        "email": user.email,
        "email_verified": user.email_verified,
    }
    for name in PROFILE_FIELDS:
        if body.get(name) is not None and name != "email":
            out[name] = getattr(user, name)
    if user.user_metadata:
        out["user_metadata"] = user.user_metadata
    return out


def signup_user(tenant: Tenant, body: dict[str, Any], *, ip: str | None) -> dict[str, Any]:
    """Sign a user up from an Auth0 sign-up body; Auth0's answer, or SignupRefused."""
    if "app_metadata" in body:
        raise SignupRefused(
            "invalid_body", "app_metadata cannot be set at sign-up; the end user never sets it."
        )
    _application(tenant, body)
    connection = _connection(tenant, body)
    _string(body, "email")
    _user_metadata(body)
    password = _string(body, "password")
    policy = str(connection.options.get("passwordPolicy") or password_policy.DEFAULT_POLICY)
    weak = password_policy.strength_error(policy, password)
    if weak is not None:
        raise SignupRefused.weak_password(weak)
    new = _new_user_body(body, connection)
    actor = Actor(ActorKind.END_USER, new["user_id"], str(new.get("email", "")))
    ctx = Context(actor=actor, channel=Channel.SIGNUP, ip=ip)
    try:
        user = services.user_create(tenant=tenant, body=new, by=ctx)
    except services.UserExists:
        if tenant.signup_reveals_existing_user:
            raise SignupRefused("user_exists", "The user already exists.") from None
        raise SignupRefused("invalid_signup", "Invalid sign up") from None
    except Refusal as error:
        raise SignupRefused(error.code, error.message) from None
    return _created(user, body)


@login_not_required
@csrf_exempt
@require_POST
def signup(request: HttpRequest, slug: str | None = None) -> JsonResponse:
    """The endpoint; `tenant` is the slug of the path form (`/tenants/<slug>/...`)."""
    try:
        body = _body(request)
        created = signup_user(
            auth_tenant(request, slug), body, ip=request.META.get("REMOTE_ADDR") or None
        )
    except SignupRefused as refused:
        return JsonResponse(refused.body, status=refused.status)
    return JsonResponse(created, status=200)
