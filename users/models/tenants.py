"""Tenants, their connections and the staff who run them (memberships and roles)."""

from __future__ import annotations

import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from users import metadata

DATABASE_CONNECTION = "Username-Password-Authentication"


class Plan(models.TextChoices):
    FREE = "free", "Free"
    ESSENTIALS = "essentials", "Essentials"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
_DOMAIN = re.compile(rf"^{_LABEL}(\.{_LABEL})*(:[1-9][0-9]{{0,4}})?$", re.IGNORECASE)


def validate_domain(value: str) -> None:
    """A host name (lower case, dot-separated labels), with an optional port: what an Auth0
    SDK's `domain` setting holds and the Host header of its requests carries."""
    host, _, port = value.partition(":")
    if len(host) > 253 or not _DOMAIN.match(value) or (port and int(port) > 65535):
        raise ValidationError(
            f"{value!r} is not a host name such as login.example.com (lower case, no scheme "
            "or path; a port only if the SDKs must use one).",
            code="invalid_domain",
        )


class Tenant(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
    # The host the tenant's end-user endpoints answer at (users/auth/tenancy.py); empty: only
    # the path form /tenants/<slug>/ reaches them.
    domain = models.CharField(
        max_length=259,
        blank=True,
        default="",
        validators=[validate_domain],
        help_text="The host name Auth0 SDKs use as their domain, e.g. login.example.com.",
    )
    name = models.CharField(max_length=200)
    plan = models.CharField(max_length=20, choices=Plan.choices, default=Plan.FREE)
    deny_list = models.JSONField(
        default=list,
        blank=True,
        help_text='Attributes never stored: root names ("gender") or metadata paths '
        '("user_metadata.ssn").',
    )
    signup_fields = models.JSONField(default=list, blank=True)
    user_metadata_schema = models.JSONField(null=True, blank=True)
    app_metadata_schema = models.JSONField(null=True, blank=True)
    metadata_max_bytes = models.PositiveIntegerField(default=metadata.Limits.tier_max_bytes)
    metadata_max_depth = models.PositiveSmallIntegerField(default=metadata.Limits.max_depth)
    # A sign-up with a taken email says so (`user_exists`) instead of Auth0's default, the
    # generic `invalid_signup` that does not tell an attacker who has an account.
    signup_reveals_existing_user = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["domain"],
                condition=~Q(domain=""),
                name="tenant_unique_domain",
                violation_error_message="Another tenant already has this domain.",
            )
        ]

    def __str__(self) -> str:
        return self.slug

    def clean(self) -> None:
        self.domain = self.domain.strip().lower()

    @property
    def allows_app_metadata_search(self) -> bool:
        return self.plan != Plan.FREE

    def metadata_rules(self) -> metadata.Rules:
        schemas = {
            tier: schema
            for tier, schema in (
                (metadata.USER_METADATA, self.user_metadata_schema),
                (metadata.APP_METADATA, self.app_metadata_schema),
            )
            if schema
        }
        return metadata.Rules(
            limits=metadata.Limits(
                tier_max_bytes=self.metadata_max_bytes, max_depth=self.metadata_max_depth
            ),
            deny_list=frozenset(str(entry) for entry in self.deny_list or ()),
            schemas=schemas,
        )


class Strategy(models.TextChoices):
    DATABASE = "database", "Database"
    SOCIAL = "social", "Social"
    ENTERPRISE = "enterprise", "Enterprise"
    CUSTOM = "custom", "Custom database"


class Connection(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connections")
    name = models.CharField(max_length=128)
    strategy = models.CharField(max_length=20, choices=Strategy.choices)
    options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="connection_unique_name"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant.slug}/{self.name}"

    @property
    def provider(self) -> str:
        """The identity provider name used in user ids (`auth0|...` for database users)."""
        return "auth0" if self.strategy in (Strategy.DATABASE, Strategy.CUSTOM) else self.name

    @property
    def is_social(self) -> bool:
        return self.strategy == Strategy.SOCIAL


class Role(models.TextChoices):
    VIEWER = "viewer", "Viewer"
    EDITOR = "editor", "Editor"
    ADMIN = "admin", "Admin"
    OWNER = "owner", "Owner"


ROLE_RANK: dict[str, int] = {role: rank for rank, role in enumerate(Role.values)}


class Membership(models.Model):
    """A staff account's role in a tenant: viewer < editor < admin < owner."""

    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["tenant", "staff"]
        constraints = [
            models.UniqueConstraint(fields=["staff", "tenant"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.staff} in {self.tenant} as {self.role}"

    def has_role(self, needed: str) -> bool:
        return ROLE_RANK[self.role] >= ROLE_RANK[needed]

    @property
    def is_admin(self) -> bool:
        """Admin or owner: may run bulk jobs (export, import, bulk edit, revert)."""
        return self.has_role(Role.ADMIN)
