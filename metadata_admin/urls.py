from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import URLPattern, URLResolver, include, path

from users.api import api


def _public(patterns: list[URLPattern | URLResolver]) -> list[URLPattern | URLResolver]:
    """API views authenticate by token, not by the staff session."""
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback.login_required = False  # type: ignore[attr-defined]
        else:
            _public(pattern.url_patterns)
    return patterns


api_patterns, api_app, api_namespace = api.urls
# The same API under the path form, for SDKs whose domain is HOST/tenants/<slug> (self-service
# with an end user's token); its OpenAPI document stays at /api/v2/openapi.json only.
tenant_api_patterns = [p for p in api_patterns if getattr(p, "name", "") != "openapi-json"]

# A busy database (a lock that outlasted its wait) is a 503 to retry, not a 500.
handler500 = "users.views.errors.server_error"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v2/", include((_public(list(api_patterns)), api_app), namespace=api_namespace)),
    path(
        "tenants/<slug:slug>/api/v2/",
        include((_public(tenant_api_patterns), api_app), namespace=f"{api_namespace}_path"),
    ),
    # The end-user endpoints (public): by the path form, and at the root for a tenant's domain.
    path("tenants/<slug:slug>/", include("users.auth.urls", namespace="auth_path")),
    path("", include("users.auth.urls", namespace="auth")),
    path("", include("users.urls")),
]
