"""Applications (Auth0's "clients") that end users sign in to, and the tenants' token-signing
keys. Written only by `users.services` (applications, signing_keys)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from users.models.tenants import Tenant

ID_TOKEN_LIFETIME_DEFAULT = 36_000  # seconds: Auth0's default, 10 hours
ID_TOKEN_LIFETIME_MIN = 60
ID_TOKEN_LIFETIME_MAX = 2_592_000  # 30 days, Auth0's ceiling
URL_MAX_LENGTH = 2000
URLS_MAX = 100
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})


class GrantType(models.TextChoices):
    """The grants an application may use at /oauth/token. The password grants are off by
    default, as Auth0 made them in 2017 (RFC 9700 says they must not be used)."""

    AUTHORIZATION_CODE = "authorization_code", "Authorization code (with PKCE)"
    REFRESH_TOKEN = "refresh_token", "Refresh token"
    PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm", "Password (realm)"
    PASSWORD = "password", "Password (default connection)"


DEFAULT_GRANTS = [GrantType.AUTHORIZATION_CODE.value, GrantType.REFRESH_TOKEN.value]
# What the command line and people type for a grant.
GRANT_SHORT_NAMES: dict[str, str] = {
    "authorization_code": GrantType.AUTHORIZATION_CODE,
    "refresh_token": GrantType.REFRESH_TOKEN,
    "password-realm": GrantType.PASSWORD_REALM,
    "password": GrantType.PASSWORD,
}


def url_problem(url: str) -> str | None:
    """Why `url` cannot be a callback or logout URL, or None: an absolute https URL, or http
    on localhost/127.0.0.1 only (local development), without a fragment."""
    if not url or len(url) > URL_MAX_LENGTH or any(c.isspace() for c in url):
        return f"{url!r} is not a URL (no spaces, at most {URL_MAX_LENGTH} characters)."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a bad port raises ValueError)
    except ValueError:
        return f"{url!r} is not a valid URL."
    if parts.scheme not in ("https", "http") or not host:
        return f"{url!r} must be an absolute https:// URL."
    if parts.scheme == "http" and host not in LOCAL_HOSTS:
        return f"{url!r} must use https (http only for localhost and 127.0.0.1)."
    if parts.fragment or url.endswith("#"):
        return f"{url!r} must not have a fragment (#...)."
    return None


def validate_urls(value: Any) -> None:
    if not isinstance(value, list) or not all(isinstance(url, str) for url in value):
        raise ValidationError("A list of URLs.", code="invalid")
    if len(value) > URLS_MAX:
        raise ValidationError(f"At most {URLS_MAX} URLs.", code="too_many")
    problems = [problem for url in value if (problem := url_problem(url))]
    if problems:
        raise ValidationError(" ".join(problems), code="invalid_url")


def validate_grants(value: Any) -> None:
    if not isinstance(value, list):
        raise ValidationError("A list of grant types.", code="invalid")
    unknown = [str(grant) for grant in value if grant not in GrantType.values]
    if unknown:
        raise ValidationError(
            f"Unknown grant type(s): {', '.join(unknown)}. Grant types are: "
            f"{', '.join(GrantType.values)}.",
            code="unknown_grant",
        )


class Application(models.Model):
    """An application of a tenant that end users sign in to. `client_id` is public; the
    client secret is kept only as its SHA-256 (it is random, so no salt is needed) and is
    shown once, when made. A public application (a SPA, a native app) has no secret."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="applications")
    name = models.CharField(max_length=100)
    client_id = models.CharField(max_length=64, unique=True)
    client_secret_hash = models.CharField(max_length=64, blank=True, default="")
    callback_urls = models.JSONField(default=list, blank=True, validators=[validate_urls])
    logout_urls = models.JSONField(default=list, blank=True, validators=[validate_urls])
    grant_types = models.JSONField(default=list, blank=True, validators=[validate_grants])
    id_token_lifetime = models.PositiveIntegerField(
        default=ID_TOKEN_LIFETIME_DEFAULT,
        validators=[
            MinValueValidator(ID_TOKEN_LIFETIME_MIN),
            MaxValueValidator(ID_TOKEN_LIFETIME_MAX),
        ],
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    secret_rotated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="application_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    @property
    def is_public(self) -> bool:
        return not self.client_secret_hash


class SigningKey(models.Model):
    """One of a tenant's RS256 token-signing keys. The current one (`retired_at` empty)
    signs; the most recently retired one still verifies, so tokens signed before a rotation
    stay valid. The private key is kept encrypted (users/auth/crypto.py), bound to its kid."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="signing_keys")
    kid = models.CharField(max_length=64, unique=True)
    public_jwk = models.JSONField()
    private_key_encrypted = models.BinaryField()
    created_at = models.DateTimeField(default=timezone.now)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["tenant", "-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant"],
                condition=Q(retired_at__isnull=True),
                name="signing_key_one_current",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.kid}"

    @property
    def is_current(self) -> bool:
        return self.retired_at is None
