"""Bearer tokens of API clients (and, for self-service, of end users), their scopes, and the
rate limit every request passes."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils import timezone
from ninja.security import HttpBearer

from users import services
from users.api import ratelimit, self_service
from users.api.errors import ApiError
from users.api.self_service import EndUser
from users.audit import Actor, Context
from users.auth.keys import InvalidToken
from users.models import ActorKind, ApiClient, Channel, Scope


class ApiRequest(HttpRequest):
    auth: ApiClient | EndUser  # what the token authenticated (an end user's has no api_client)
    api_client: ApiClient
    rate_limit: ratelimit.Allowance
    request_id: str


class ClientToken(HttpBearer):
    """`Authorization: Bearer <token>` of an active API client; the tenant is its tenant.
    Every request, signed in or not, takes a token from a bucket: the client's, or before
    that the address's (so guessing tokens is rate limited too).

    An end user's access token (a JWT, users/api/self_service.py) is verified too and draws
    on the user's own bucket; it is accepted only where `end_users` is set (GET and PATCH
    /users/{id}, for its own user), and is 403 insufficient_scope everywhere else."""

    def __init__(self, *, end_users: bool = False) -> None:
        super().__init__()
        self.end_users = end_users

    def __call__(self, request: HttpRequest) -> ApiClient | EndUser | None:
        client = super().__call__(request)
        if client is None:
            _limit(request, _address_bucket(request))
            raise ApiError(401, "Invalid token or no token.", "invalid_token")
        return client

    def authenticate(self, request: HttpRequest, token: str) -> ApiClient | EndUser | None:
        if self_service.looks_like_jwt(token):
            return self._end_user(request, token)
        client = (
            ApiClient.objects.select_related("tenant")
            .filter(token_hash=services.api_token_hash(token), revoked_at__isnull=True)
            .first()
        )
        if client is None:
            return None
        _limit(request, f"client:{client.pk}")
        now = timezone.now()
        if client.last_used_at is None or (now - client.last_used_at).total_seconds() > 60:
            ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        request.api_client = client  # type: ignore[attr-defined]
        return client

    def _end_user(self, request: HttpRequest, token: str) -> EndUser:
        try:
            end_user = self_service.authenticate(request, token)
        except InvalidToken:
            _limit(request, _address_bucket(request))
            raise
        _limit(request, end_user.bucket)
        if not self.end_users:
            raise ApiError(
                403,
                "An end user's token may only read and change its own user "
                "(GET and PATCH /users/{id}); this endpoint needs an API client's token.",
                "insufficient_scope",
            )
        self_service.authorize(request, end_user)
        return end_user


def _address_bucket(request: HttpRequest) -> str:
    return f"ip:{request.META.get('REMOTE_ADDR', '')}"


def _limit(request: HttpRequest, key: str) -> None:
    allowance = ratelimit.take(key)
    request.rate_limit = allowance  # type: ignore[attr-defined]
    if not allowance.allowed:
        raise ApiError(
            429,
            "Global limit has been reached.",
            "too_many_requests",
            headers={"Retry-After": str(max(1, allowance.reset - int(timezone.now().timestamp())))},
        )


def require_scope(request: ApiRequest, *scopes: Scope) -> ApiClient:
    """The request's client, if it holds one of `scopes`; else 403 insufficient_scope (an
    end user's token, which has no client, never holds them)."""
    client = getattr(request, "api_client", None)
    if client is None:
        raise ApiError(403, "This endpoint needs an API client's token.", "insufficient_scope")
    if not any(scope in client.scopes for scope in scopes):
        raise ApiError(
            403,
            f"Insufficient scope; expected any of: {', '.join(scopes)}.",
            "insufficient_scope",
        )
    return client


def api_context(request: ApiRequest) -> Context:
    """Who writes: `api_client:<name>` on channel `api`."""
    client = request.api_client
    return Context.from_request(
        request, channel=Channel.API, actor=Actor(ActorKind.API_CLIENT, str(client.pk), client.name)
    )
