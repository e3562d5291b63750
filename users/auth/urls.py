"""The end-user endpoints, mounted twice by metadata_admin/urls.py: at the root (the tenant
is the one whose domain is the Host) and under tenants/<slug>/ (the path form). None of them
collides with the console's own URLs (/, /t/, /switch/, /admin/, /accounts/, /api/v2/)."""

from django.urls import path

from users.auth import signup, token, userinfo, views

app_name = "auth"

urlpatterns = [
    path("dbconnections/signup", signup.signup, name="signup"),
    path("oauth/token", token.token, name="token"),
    path("userinfo", userinfo.userinfo, name="userinfo"),
    path(".well-known/jwks.json", views.jwks, name="jwks"),
    path(
        ".well-known/openid-configuration",
        views.openid_configuration,
        name="openid_configuration",
    ),
]
