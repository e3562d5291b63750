"""The audit log: a tenant's chain head and its append-only events.

`AuditEvent` rows are written only by `users.audit`."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from users import audit_keys, metadata
from users.models.tenants import Tenant


class AuditChain(models.Model):
    """The head of a tenant's audit hash chain; locked while an event is appended.

    `key_id` names the key the chain's hashes are keyed with (`users.audit_keys`): a new
    chain takes AUDIT_CHAIN_KEY's; empty for a chain from before keys, hashed with plain
    SHA-256 until `audit_rekey` re-keys it."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="audit_chain")
    last_seq = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="")
    key_id = models.CharField(max_length=32, blank=True, default=audit_keys.current_key_id)

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


class AuditAction(models.TextChoices):
    """Every kind of change the audit log records; the log's filter offers exactly these."""

    TENANT_CREATE = "tenant.create"
    TENANT_UPDATE = "tenant.update"
    MEMBERSHIP_SET = "membership.set"
    API_CLIENT_CREATE = "api_client.create"
    API_CLIENT_REVOKE = "api_client.revoke"
    APPLICATION_CREATE = "application.create"
    APPLICATION_UPDATE = "application.update"
    APPLICATION_ROTATE_SECRET = "application.rotate_secret"
    APPLICATION_DELETE = "application.delete"
    SIGNING_KEY_ROTATE = "signing_key.rotate"
    USER_CREATE = "user.create"
    USER_BULK_CREATE = "user.bulk_create"
    USER_UPDATE = "user.update"
    USER_BLOCK = "user.block"
    USER_UNBLOCK = "user.unblock"
    USER_DELETE = "user.delete"
    USER_UNBLOCK_SIGN_INS = "user.unblock_sign_ins"
    USER_REVERT = "user.revert"
    AUDIT_REKEY = "audit.rekey"


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
    action = models.CharField(max_length=40, choices=AuditAction.choices)
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
