"""End users, their identities and the search leaves derived from their metadata.

Rows of `User` are written only by `users.services`."""

from __future__ import annotations

import secrets
from typing import Any

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from users import metadata
from users.models.tenants import Connection, Tenant


def new_user_id(provider: str = "auth0") -> str:
    return f"{provider}|{secrets.token_hex(12)}"


class User(models.Model):
    """An end user of a tenant, with the normalized profile of SPEC.md section 7."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="users")
    user_id = models.CharField(max_length=metadata.USER_ID_MAX_LENGTH)
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="users")
    # Optional profile strings are NULL when absent: absent and "" differ (`_exists_`).
    email = models.CharField(max_length=254, null=True, blank=True)  # noqa: DJ001
    email_verified = models.BooleanField(default=False)
    username = models.CharField(max_length=128, null=True, blank=True)  # noqa: DJ001
    phone_number = models.CharField(max_length=32, null=True, blank=True)  # noqa: DJ001
    phone_verified = models.BooleanField(default=False)
    name = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001
    given_name = models.CharField(max_length=150, null=True, blank=True)  # noqa: DJ001
    family_name = models.CharField(max_length=150, null=True, blank=True)  # noqa: DJ001
    nickname = models.CharField(max_length=300, null=True, blank=True)  # noqa: DJ001
    picture = models.CharField(max_length=2000, null=True, blank=True)  # noqa: DJ001
    blocked = models.BooleanField(default=False)
    user_metadata = models.JSONField(default=dict, blank=True)
    app_metadata = models.JSONField(default=dict, blank=True)
    password = models.CharField(max_length=256, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    last_login = models.DateTimeField(null=True, blank=True)
    last_ip = models.GenericIPAddressField(null=True, blank=True)
    logins_count = models.PositiveIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["tenant", "id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user_id"], name="user_unique_user_id"),
            models.UniqueConstraint(
                Lower("email"),
                "connection",
                condition=models.Q(email__isnull=False),
                name="user_unique_email_per_connection",
            ),
        ]
        indexes = [
            models.Index("tenant", Lower("email"), "id", name="user_tenant_email_idx"),
            models.Index(fields=["tenant", "created_at", "id"], name="user_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        return self.email or self.user_id

    def profile(self) -> dict[str, Any]:
        """The audited, writable part of the profile (no password, no read-only fields)."""
        doc: dict[str, Any] = {key: getattr(self, key) for key in metadata.PROFILE_STRING_FIELDS}
        doc.update({key: getattr(self, key) for key in metadata.PROFILE_BOOLEAN_FIELDS})
        doc[metadata.USER_METADATA] = self.user_metadata
        doc[metadata.APP_METADATA] = self.app_metadata
        return doc


class Identity(models.Model):
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="identities")
    connection = models.ForeignKey(Connection, on_delete=models.PROTECT, related_name="+")
    provider = models.CharField(max_length=64)
    # The id at the provider; shown as `identities[].user_id` (SPEC.md section 7).
    provider_user_id = models.CharField(max_length=metadata.USER_ID_MAX_LENGTH)
    is_social = models.BooleanField(default=False)
    profile_data = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "provider", "provider_user_id"], name="identity_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider}|{self.provider_user_id}"


class SearchLeaf(models.Model):
    """One searchable (path, scalar) of a user's metadata (`users.search.leaves`).

    Derived data, rewritten by `users.services` whenever a tier changes; it serves
    wildcards, ranges, `_exists_` and sorting on metadata paths with plain b-tree (and, on
    PostgreSQL, trigram) indexes.
    """

    class Tier(models.TextChoices):
        """The metadata tier a leaf comes from, as stored (one letter), labelled with its name."""

        USER_METADATA = "u", metadata.USER_METADATA
        APP_METADATA = "a", metadata.APP_METADATA

        @classmethod
        def of(cls, tier: str) -> SearchLeaf.Tier:
            """The code of a tier name: `user_metadata` -> `u`."""
            return cls.USER_METADATA if tier == metadata.USER_METADATA else cls.APP_METADATA

        @property
        def tier_name(self) -> str:
            """`user_metadata` or `app_metadata`."""
            return str(self.label)

    USER_METADATA = Tier.USER_METADATA
    APP_METADATA = Tier.APP_METADATA

    # The composite indexes below lead with tenant; a separate tenant index would only cost.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="search_leaves")
    tier = models.CharField(max_length=1, choices=Tier.choices)
    path = models.CharField(max_length=500)
    kind = models.CharField(max_length=1)
    first = models.BooleanField(default=False)
    text = models.TextField(null=True)  # noqa: DJ001 - NULL: not a string leaf
    number = models.FloatField(null=True)
    moment = models.DateTimeField(null=True)

    class Meta:
        # PostgreSQL also gets number, moment, trigram and sort indexes (migration 0004);
        # SQLite, the development default, keeps inserts cheap with this one.
        indexes = [
            models.Index(fields=["tenant", "tier", "path", "text"], name="leaf_text_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tier}:{self.path}"
