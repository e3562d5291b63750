"""Management API clients and the rate-limit buckets they draw on."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from users.models.tenants import Tenant


class Scope(models.TextChoices):
    """What an API client may do (SPEC.md section 6)."""

    READ_USERS = "read:users", "Read users"
    CREATE_USERS = "create:users", "Create users"
    UPDATE_USERS = "update:users", "Update users"
    UPDATE_USERS_APP_METADATA = "update:users_app_metadata", "Update only app_metadata"
    DELETE_USERS = "delete:users", "Delete users"


class ApiClient(models.Model):
    """A tenant's Management API client: a bearer token (kept only as its SHA-256) with
    scopes. The tenant of every request is the token's tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_clients")
    name = models.CharField(max_length=100)
    scopes = models.JSONField(default=list)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=12)  # shown in lists, to tell tokens apart
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", blank=True
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="api_client_unique_name")
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    @property
    def active(self) -> bool:
        return self.revoked_at is None


class RateBucket(models.Model):
    """A token bucket (an API client's, or an address's before it signs in). Kept in the
    database so every server process shares it; updated in one atomic statement."""

    key = models.CharField(max_length=100, unique=True)
    tokens = models.FloatField()
    updated = models.FloatField()  # seconds since the epoch

    def __str__(self) -> str:
        return self.key
