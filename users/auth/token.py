"""`POST /oauth/token` for Auth0's password grants: `password-realm` (the realm is a database
connection's name) and `password` (the tenant's database connection).

Bodies come form-encoded (node-auth0) or as JSON where `null` means absent (auth0-python).
Errors are OAuth's `{error, error_description}`, with Auth0's statuses: wrong credentials are
403 `invalid_grant` "Wrong email or password."; a grant the application may not use is 403
`unauthorized_client`; a blocked user 401 `unauthorized`; a missing parameter 400
`invalid_request`; an unknown grant 400 `unsupported_grant_type`; a bad client 401
`invalid_client`; too many consecutive failures of one user from one IP 429
`too_many_attempts` (checked before the password is hashed). The password is checked before
any transaction opens.

Every attempt that names a username is written to the login log (`SignIn`), whatever its
outcome; a malformed request (a missing parameter, an unknown grant or realm) is not.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.hashers import check_password, make_password
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from users import metadata, services
from users.auth import keys
from users.auth.tenancy import auth_tenant, issuer
from users.models import (
    DATABASE_CONNECTION,
    Application,
    Connection,
    SignInOutcome,
    Strategy,
    Tenant,
    User,
)

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"
PASSWORD = "password"
ACCESS_TOKEN_LIFETIME = 86_400  # seconds, Auth0's default for an API
OIDC_SCOPES = ("openid", "profile", "email")
# What an end user's token may carry for the Management API: their own profile only.
CURRENT_USER_SCOPES = (
    "read:current_user",
    "update:current_user_metadata",
    "create:current_user_metadata",
    "delete:current_user_metadata",
)
PROFILE_CLAIMS = ("name", "nickname", "picture", "given_name", "family_name")
# Auth0's text; Auth0 goes on to say it e-mailed an unblock link, which this server does not.
TOO_MANY_ATTEMPTS = "Your account has been blocked after multiple consecutive login attempts."


class TokenRefused(Exception):
    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(error)
        self.status = status
        self.body = {"error": error, "error_description": description}


def _params(request: HttpRequest) -> dict[str, str]:
    """The body's parameters, form-encoded or JSON (`null` is absent)."""
    if request.content_type == "application/json":
        try:
            body = metadata.parse_json(request.body or b"")
        except metadata.MetadataError as error:
            raise TokenRefused(400, "invalid_request", error.message) from None
        if not isinstance(body, dict):
            raise TokenRefused(400, "invalid_request", "The body must be a JSON object.")
        return {key: str(value) for key, value in body.items() if value is not None}
    return {key: request.POST[key] for key in request.POST}


def _required(params: dict[str, str], name: str) -> str:
    value = params.get(name, "")
    if not value:
        raise TokenRefused(400, "invalid_request", f"Missing required parameter: {name}")
    return value


def _client(tenant: Tenant, params: dict[str, str]) -> Application:
    client_id = _required(params, "client_id")
    application = Application.objects.filter(tenant=tenant, client_id=client_id).first()
    if application is None:
        raise TokenRefused(401, "invalid_client", "Unknown client.")
    if not application.is_public:
        secret = params.get("client_secret", "")
        if not secret or not services.application_check_secret(application, secret):
            raise TokenRefused(401, "invalid_client", "Client authentication failed.")
    return application


def _connection(tenant: Tenant, grant: str, params: dict[str, str]) -> Connection:
    name = _required(params, "realm") if grant == PASSWORD_REALM else DATABASE_CONNECTION
    connection = Connection.objects.filter(tenant=tenant, name=name).first()
    if connection is None or connection.strategy != Strategy.DATABASE:
        raise TokenRefused(400, "invalid_request", f"{name!r} is not a database connection.")
    return connection


def _find_user(connection: Connection, username: str) -> User | None:
    """The connection's user whose email (any case) or username this is."""
    return (
        User.objects.filter(connection=connection, email__lower=username.lower()).first()
        or User.objects.filter(connection=connection, username=username).first()
    )


def _check_password(user: User | None, password: str) -> User:
    """`user`, if this is their password; 403 invalid_grant otherwise (a missing user costs a
    hash too, so the answer's timing does not tell who has an account)."""
    if user is None or not user.password:
        make_password(password)
        raise TokenRefused(403, "invalid_grant", "Wrong email or password.")
    stored = user.password
    found = user

    def upgrade(raw: str) -> None:  # a bcrypt hash from an import: store a PBKDF2 one
        services.user_store_rehashed_password(
            user=found, old_hash=stored, new_hash=make_password(raw)
        )

    if not check_password(password, stored, setter=upgrade):
        raise TokenRefused(403, "invalid_grant", "Wrong email or password.")
    return user


class _Attempt:
    """What the login log records of this request, once it names a username."""

    def __init__(self, tenant: Tenant, params: dict[str, str], ip: str | None) -> None:
        self.tenant = tenant
        self.username = params.get("username", "")
        self.client_id = params.get("client_id", "")
        self.ip = ip
        self.connection = ""

    def log(self, outcome: SignInOutcome, user: User | None = None) -> None:
        if self.username or user is not None:
            services.sign_in_log(
                tenant=self.tenant,
                outcome=outcome,
                username=self.username,
                user=user,
                ip=self.ip,
                client_id=self.client_id,
                connection=self.connection,
            )


def _signed_in_user(attempt: _Attempt, connection: Connection, password: str) -> User:
    """The user whose password this is, unless they are locked out from this IP (429, checked
    before hashing), the password is wrong (403), or they are blocked (401). Logged."""
    user = _find_user(connection, attempt.username)
    subject = services.failure_subject(user, attempt.username)
    if services.sign_in_locked(connection=connection, subject=subject, ip=attempt.ip):
        attempt.log(SignInOutcome.TOO_MANY_ATTEMPTS, user)
        raise TokenRefused(429, "too_many_attempts", TOO_MANY_ATTEMPTS)
    try:
        user = _check_password(user, password)
    except TokenRefused:
        services.sign_in_failed(connection=connection, subject=subject, user=user, ip=attempt.ip)
        failed = SignInOutcome.UNKNOWN_USER if user is None else SignInOutcome.WRONG_PASSWORD
        attempt.log(failed, user)
        raise
    if user.blocked:
        attempt.log(SignInOutcome.BLOCKED, user)
        raise TokenRefused(401, "unauthorized", "user is blocked")
    return user


def _scopes(params: dict[str, str], audience: str, api_audience: str) -> list[str]:
    wanted = params.get("scope", "openid").split()
    allowed = OIDC_SCOPES + (CURRENT_USER_SCOPES if audience == api_audience else ())
    return [scope for scope in dict.fromkeys(wanted) if scope in allowed]


def oidc_claims(user: User, scopes: list[str]) -> dict[str, Any]:
    """The profile and email claims of `scopes`, from `user` as they are now (the ID token
    and /userinfo): with `profile` the profile fields that are set and `updated_at`; with
    `email` `email` and `email_verified`."""
    claims: dict[str, Any] = {}
    if "profile" in scopes:
        claims.update({name: getattr(user, name) for name in PROFILE_CLAIMS if getattr(user, name)})
        claims["updated_at"] = user.updated_at.isoformat()
    if "email" in scopes:
        claims.update({"email": user.email, "email_verified": user.email_verified})
    return claims


def _id_token(
    tenant: Tenant,
    user: User,
    application: Application,
    *,
    iss: str,
    scopes: list[str],
    now: int,
    params: dict[str, str],
) -> str:
    claims: dict[str, Any] = {
        "iss": iss,
        "sub": user.user_id,
        "aud": application.client_id,
        "iat": now,
        "exp": now + application.id_token_lifetime,
        "auth_time": now,
        "sid": secrets.token_urlsafe(16),
    }
    if params.get("nonce"):
        claims["nonce"] = params["nonce"]
    claims.update(oidc_claims(user, scopes))
    return keys.sign(tenant, claims)


def _client_ip(request: HttpRequest, application: Application | None) -> str | None:
    """The end user's address: a confidential client's server may say whose address it signs
    in for (`auth0-forwarded-for`); otherwise the peer's."""
    forwarded = None
    if application is not None and not application.is_public:
        forwarded = services.client_ip(request.headers.get("auth0-forwarded-for"))
    return forwarded or request.META.get("REMOTE_ADDR")


def issue_tokens(request: HttpRequest, tenant: Tenant) -> dict[str, Any]:
    params = _params(request)
    grant = _required(params, "grant_type")
    if grant not in (PASSWORD_REALM, PASSWORD):
        raise TokenRefused(400, "unsupported_grant_type", f"Unsupported grant type: {grant}")
    attempt = _Attempt(tenant, params, _client_ip(request, None))
    try:
        application = _client(tenant, params)
    except TokenRefused as refused:
        if refused.body["error"] == "invalid_client":
            attempt.log(SignInOutcome.INVALID_CLIENT)
        raise
    attempt.ip = _client_ip(request, application)
    if grant not in application.grant_types:
        attempt.log(SignInOutcome.GRANT_NOT_ALLOWED)
        raise TokenRefused(
            403, "unauthorized_client", f"Grant type '{grant}' not allowed for the client."
        )
    connection = _connection(tenant, grant, params)
    attempt.connection = connection.name
    _required(params, "username")
    user = _signed_in_user(attempt, connection, _required(params, "password"))
    iss = issuer(tenant, request)
    api_audience = f"{iss}api/v2/"
    audience = params.get("audience", api_audience)
    if audience != api_audience:
        attempt.log(SignInOutcome.ACCESS_DENIED, user)
        raise TokenRefused(403, "access_denied", f"Service not found: {audience}")
    scopes = _scopes(params, audience, api_audience)
    now = int(time.time())
    access = keys.sign(
        tenant,
        {
            "iss": iss,
            "sub": user.user_id,
            "aud": [api_audience, f"{iss}userinfo"],
            "iat": now,
            "exp": now + ACCESS_TOKEN_LIFETIME,
            "azp": application.client_id,
            "scope": " ".join(scopes),
        },
    )
    answer: dict[str, Any] = {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ACCESS_TOKEN_LIFETIME,
        "scope": " ".join(scopes),
    }
    if "openid" in scopes:
        answer["id_token"] = _id_token(
            tenant, user, application, iss=iss, scopes=scopes, now=now, params=params
        )
    subject = services.failure_subject(user, attempt.username)
    services.sign_in_succeeded(connection=connection, subject=subject, ip=attempt.ip)
    services.user_record_sign_in(user=user, ip=attempt.ip)
    attempt.log(SignInOutcome.SUCCESS, user)
    return answer


@login_not_required
@csrf_exempt
@require_POST
def token(request: HttpRequest, slug: str | None = None) -> JsonResponse:
    """The endpoint; `slug` is the path form's tenant."""
    try:
        answer = issue_tokens(request, auth_tenant(request, slug))
    except TokenRefused as refused:
        return JsonResponse(refused.body, status=refused.status)
    response = JsonResponse(answer)
    response["Pragma"] = "no-cache"
    return response
