"""The discovery endpoints SDKs read: the JWKS and the OpenID Provider configuration. Public
(no staff session), JSON, reached by the tenant's domain or by the path form."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET

from users.auth import keys
from users.auth.tenancy import auth_tenant, issuer
from users.models import GrantType, Tenant

TenantEndpoint = Callable[[HttpRequest, Tenant], HttpResponse]

SCOPES_SUPPORTED = ["openid", "profile", "email", "offline_access"]
CLAIMS_SUPPORTED = [
    "aud",
    "auth_time",
    "email",
    "email_verified",
    "exp",
    "family_name",
    "given_name",
    "iat",
    "iss",
    "name",
    "nickname",
    "nonce",
    "picture",
    "sid",
    "sub",
    "updated_at",
]


def tenant_endpoint(view: TenantEndpoint) -> Callable[..., HttpResponse]:
    """A public end-user endpoint: the tenant from the host or the path form's slug, and an
    unknown one answered with a JSON 404 (`{"error", "error_description"}`, OAuth's shape)."""

    @login_not_required
    @functools.wraps(view)
    def wrapped(request: HttpRequest, slug: str | None = None, **kwargs: Any) -> HttpResponse:
        try:
            tenant = auth_tenant(request, slug)
        except Http404 as error:
            return JsonResponse({"error": "not_found", "error_description": str(error)}, status=404)
        return view(request, tenant, **kwargs)

    return wrapped


@require_GET
@tenant_endpoint
def jwks(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    return JsonResponse(keys.jwks(tenant))


@require_GET
@tenant_endpoint
def openid_configuration(request: HttpRequest, tenant: Tenant) -> HttpResponse:
    base = issuer(tenant, request)
    return JsonResponse(
        {
            "issuer": base,
            "authorization_endpoint": base + "authorize",
            "token_endpoint": base + "oauth/token",
            "userinfo_endpoint": base + "userinfo",
            "jwks_uri": base + ".well-known/jwks.json",
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": [
                "client_secret_basic",
                "client_secret_post",
                "none",
            ],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": SCOPES_SUPPORTED,
            "claims_supported": CLAIMS_SUPPORTED,
            "grant_types_supported": GrantType.values,
        }
    )
