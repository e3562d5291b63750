"""`GET` (or `POST`) `/userinfo`: the OpenID Connect claims of the user an access token is for.

The token comes as `Authorization: Bearer <access token>`; it must be one of the tenant's
(signature, `exp`), issued by this issuer (`iss`, which follows the form the request used), for
`<issuer>userinfo` (one of its `aud`). The claims are those of the token's scopes, read from
the user as they are now: `sub`; with `profile` `name`, `nickname`, `picture`, `given_name`,
`family_name`, `updated_at`; with `email` `email` and `email_verified`. Anything wrong, or a
user since blocked or deleted, is 401 with `WWW-Authenticate: Bearer error="invalid_token"`.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from users.auth import keys
from users.auth.tenancy import issuer
from users.auth.token import oidc_claims
from users.auth.views import tenant_endpoint
from users.models import Tenant
from users.selectors import tenant_user


def _unauthorized(description: str) -> JsonResponse:
    response = JsonResponse(
        {"error": "invalid_token", "error_description": description}, status=401
    )
    quoted = description.replace("\\", "\\\\").replace('"', "'")
    response["WWW-Authenticate"] = f'Bearer error="invalid_token", error_description="{quoted}"'
    return response


def _bearer(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


@csrf_exempt
@require_http_methods(["GET", "POST"])
@tenant_endpoint
def userinfo(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    token = _bearer(request)
    if token is None:
        return _unauthorized("Missing access token (Authorization: Bearer ...).")
    iss = issuer(tenant, request)
    try:
        claims = keys.verify(tenant, token, issuer=iss, audience=f"{iss}userinfo")
    except keys.InvalidToken as error:
        return _unauthorized(error.message)
    user = tenant_user(tenant, str(claims.get("sub", "")))
    if user is None or user.blocked:
        return _unauthorized("The token's user is blocked or no longer exists.")
    scopes = str(claims.get("scope", "")).split()
    return JsonResponse({"sub": user.user_id, **oidc_claims(user, scopes)})
