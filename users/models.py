"""Tenants, their connections, end users and the audit log.

Rows of `User` are written only by `users.services`; `AuditEvent` rows only by `users.audit`.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from users import metadata

DATABASE_CONNECTION = "Username-Password-Authentication"


class Plan(models.TextChoices):
    FREE = "free", "Free"
    ESSENTIALS = "essentials", "Essentials"
    PROFESSIONAL = "professional", "Professional"
    ENTERPRISE = "enterprise", "Enterprise"


class Tenant(models.Model):
    slug = models.SlugField(max_length=63, unique=True)
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
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

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


class AuditChain(models.Model):
    """The head of a tenant's audit hash chain; locked while an event is appended."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="audit_chain")
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")

    def __str__(self) -> str:
        return f"{self.tenant} at {self.last_seq}"


class ActorKind(models.TextChoices):
    STAFF = "staff"
    API_CLIENT = "api_client"
    END_USER = "end_user"
    RULE = "rule"
    IMPORT = "import"
    SYSTEM = "system"


class Channel(models.TextChoices):
    CONSOLE = "console"
    ADMIN = "admin"
    API = "api"
    SIGNUP = "signup"
    PROFILE = "profile"
    IMPORT = "import"
    RULE = "rule"
    CLI = "cli"


class AuditEvent(models.Model):
    """One change, append-only. `payload_digest` is what the chain hashes, so a later
    redaction of the payload keeps the chain verifiable."""

    # PROTECT: a tenant with history cannot be deleted by accident.
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="audit_events")
    seq = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(max_length=20, choices=ActorKind.choices)
    actor_id = models.CharField(max_length=255, blank=True)
    actor_label = models.CharField(max_length=255, blank=True)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    action = models.CharField(max_length=40)
    # No foreign key: the trail outlives the user and the table never sees an UPDATE.
    target_pk = models.BigIntegerField(null=True, blank=True)
    target_user_id = models.CharField(max_length=metadata.USER_ID_MAX_LENGTH, blank=True)
    forward_patch = models.JSONField(default=list)
    inverse_patch = models.JSONField(default=list)
    details = models.JSONField(default=dict, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    batch_id = models.UUIDField(null=True, blank=True)
    payload_digest = models.CharField(max_length=64)
    prev_hash = models.CharField(max_length=64, blank=True)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["tenant", "-seq"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "seq"], name="audit_unique_seq"),
        ]
        indexes = [
            models.Index(fields=["tenant", "target_pk", "-seq"], name="audit_target_idx"),
            models.Index(fields=["tenant", "created_at"], name="audit_tenant_time_idx"),
            models.Index(fields=["batch_id"], name="audit_batch_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.tenant} #{self.seq} {self.action}"

    @property
    def actor(self) -> str:
        return f"{self.actor_kind}:{self.actor_label or self.actor_id}"


class SearchLeaf(models.Model):
    """One searchable (path, scalar) of a user's metadata (`users.search.leaves`).

    Derived data, rewritten by `users.services` whenever a tier changes; it serves
    wildcards, ranges, `_exists_` and sorting on metadata paths with plain b-tree (and, on
    PostgreSQL, trigram) indexes.
    """

    USER_METADATA = "u"
    APP_METADATA = "a"

    # The composite indexes below lead with tenant; a separate tenant index would only cost.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="search_leaves")
    tier = models.CharField(max_length=1)
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


class Job(models.Model):
    """A background job (export, import, bulk edit, batch revert): its state, progress,
    checkpoint and result file."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        IMPORT = "import", "Import"
        BULK_EDIT = "bulk_edit", "Bulk edit"
        REVERT = "revert", "Batch revert"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXPORT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True)
    file_name = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # The report so far and where to go on from; saved with each chunk, in its transaction.
    result = models.JSONField(default=dict, blank=True)
    # Raised by each resume: a run that finds another attempt number stops (it was replaced).
    attempt = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def started_by(self) -> str:
        """Who started it, as the audit log names actors (an API client, or staff)."""
        if "actor" in self.params:
            kind, _, label = self.params["actor"]
            return f"{kind}:{label}"
        return self.created_by.get_username() if self.created_by else "system"


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
