"""The login log (every sign-in attempt at /oauth/token that names a user) and the counters
of consecutive failures behind brute-force protection. Written only by
`users.services.sign_ins`.

Neither is the audit log: a sign-in changes no data. The log is append-only in practice and
pruned after LOGIN_LOG_DAYS (`manage.py sign_ins_prune`)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from users import metadata
from users.models.tenants import Connection, Tenant
from users.models.users import User

USERNAME_MAX_LENGTH = 320


class SignInOutcome(models.TextChoices):
    """How an attempt ended; the label is the reason the console shows."""

    SUCCESS = "success", "Signed in"
    WRONG_PASSWORD = "wrong_password", "Wrong password"
    UNKNOWN_USER = "unknown_user", "No such user"
    BLOCKED = "blocked", "The user is blocked"
    TOO_MANY_ATTEMPTS = "too_many_attempts", "Too many failed attempts from this IP"
    GRANT_NOT_ALLOWED = "grant_not_allowed", "The application may not use this grant"
    INVALID_CLIENT = "invalid_client", "Unknown application or wrong client secret"
    ACCESS_DENIED = "access_denied", "Unknown audience"

    @property
    def failed(self) -> bool:
        return self != SignInOutcome.SUCCESS


class SignIn(models.Model):
    """One attempt to sign in. `user` is the account the username named (if any, and while
    it exists); `target_user_id` (its user_id) and `username` keep what was known and tried."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    user = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="sign_ins"
    )
    target_user_id = models.CharField(max_length=metadata.USER_ID_MAX_LENGTH, blank=True)
    username = models.CharField(max_length=USERNAME_MAX_LENGTH, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    ip = models.GenericIPAddressField(null=True, blank=True)
    client_id = models.CharField(max_length=64, blank=True)
    connection = models.CharField(max_length=128, blank=True)
    outcome = models.CharField(max_length=20, choices=SignInOutcome.choices)

    class Meta:
        # Listed newest first by id (rows are only ever appended, so id order is time order).
        indexes = [
            models.Index(fields=["tenant", "-id"], name="signin_tenant_idx"),
            models.Index(fields=["user", "-id"], name="signin_user_idx"),
            models.Index(fields=["tenant", "created_at"], name="signin_tenant_time_idx"),
        ]

    def __str__(self) -> str:
        who = self.username or self.target_user_id
        return f"{who} {self.outcome} at {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def reason(self) -> str:
        return str(SignInOutcome(self.outcome).label)


class SignInFailures(models.Model):
    """Consecutive failed sign-ins of one subject (a user, or a username no user has) from one
    IP on one connection. Incremented in one UPDATE; deleted by a success or by staff."""

    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    user = models.ForeignKey(
        User, on_delete=models.CASCADE, null=True, blank=True, related_name="sign_in_failures"
    )
    # "user:<pk>" or "name:<the username, lower case>": one key for both kinds.
    subject = models.CharField(max_length=USERNAME_MAX_LENGTH + 10)
    ip = models.CharField(max_length=45, blank=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = "sign-in failures"
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "subject", "ip"], name="signinfailures_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} from {self.ip or '?'}: {self.failures}"
