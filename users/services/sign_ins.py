"""What a sign-in writes: the user's sign-in bookkeeping, a stronger hash of a password stored
in an older format (a bcrypt hash from an Auth0 import), the login log, and the counters of
consecutive failures behind brute-force protection.

None records an audit event: a sign-in changes nothing anyone edits (no profile field, no
metadata, no version), and one event per sign-in would bury the changes the log is for. Only
staff lifting a brute-force lock is audited (`user.unblock_sign_ins`). Hashing happens before
this is called, outside any transaction.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone

from users import audit
from users.audit import Context
from users.models import (
    AuditAction,
    Connection,
    SignIn,
    SignInFailures,
    SignInOutcome,
    Tenant,
    User,
)
from users.models.sign_ins import USERNAME_MAX_LENGTH

BRUTE_FORCE_MAX_ATTEMPTS = 10  # Auth0's default


def client_ip(text: str | None) -> str | None:
    """The first address of a header such as `auth0-forwarded-for`, if it is one."""
    first = (text or "").split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(first))
    except ValueError:
        return None


def user_record_sign_in(*, user: User, ip: str | None) -> None:
    """logins_count + 1, last_login now, last_ip: one UPDATE, atomic on its own."""
    User.objects.filter(pk=user.pk).update(
        logins_count=F("logins_count") + 1, last_login=timezone.now(), last_ip=client_ip(ip)
    )


def user_store_rehashed_password(*, user: User, old_hash: str, new_hash: str) -> None:
    """Replace a password's stored hash by a stronger one of the same password, unless the
    password was changed meanwhile (the stored hash is no longer `old_hash`)."""
    User.objects.filter(pk=user.pk, password=old_hash).update(password=new_hash)


# The login log.


def sign_in_log(
    *,
    tenant: Tenant,
    outcome: SignInOutcome,
    username: str = "",
    user: User | None = None,
    ip: str | None = None,
    client_id: str = "",
    connection: str = "",
) -> SignIn:
    """Append one attempt to the login log."""
    return SignIn.objects.create(
        tenant=tenant,
        user=user,
        target_user_id=user.user_id if user is not None else "",
        username=username[:USERNAME_MAX_LENGTH],
        ip=client_ip(ip),
        client_id=client_id[:64],
        connection=connection[:128],
        outcome=outcome,
    )


def sign_ins_prune(*, now: datetime | None = None) -> int:
    """Delete log rows older than LOGIN_LOG_DAYS and failure counters whose last failure is
    older than the lock time (they no longer count); the number of log rows deleted."""
    now = now or timezone.now()
    deleted, _ = SignIn.objects.filter(
        created_at__lt=now - timedelta(days=settings.LOGIN_LOG_DAYS)
    ).delete()
    SignInFailures.objects.filter(last_failure_at__lt=now - lock_time()).delete()
    return deleted


# Brute-force protection: N consecutive failures of one subject from one IP lock them out.


@dataclass(frozen=True)
class BruteForcePolicy:
    """A connection's `options`: `brute_force_enabled` (default true) and
    `brute_force_max_attempts` (default 10, Auth0's)."""

    enabled: bool
    max_attempts: int

    @classmethod
    def of(cls, connection: Connection) -> BruteForcePolicy:
        options = connection.options if isinstance(connection.options, dict) else {}
        raw = options.get("brute_force_max_attempts", BRUTE_FORCE_MAX_ATTEMPTS)
        valid = isinstance(raw, int) and not isinstance(raw, bool) and raw > 0
        return cls(
            enabled=options.get("brute_force_enabled", True) is not False,
            max_attempts=raw if valid else BRUTE_FORCE_MAX_ATTEMPTS,
        )


def lock_time() -> timedelta:
    return timedelta(minutes=settings.BRUTE_FORCE_LOCK_MINUTES)


def failure_subject(user: User | None, username: str) -> str:
    """What failures are counted against: the user, or the username no user has (so that an
    unknown username is locked out the same way and the 429 tells nothing)."""
    if user is not None:
        return f"user:{user.pk}"
    return f"name:{username.lower()[:USERNAME_MAX_LENGTH]}"


def _counter(connection: Connection, subject: str, ip: str | None) -> Q:
    return Q(connection=connection, subject=subject, ip=client_ip(ip) or "")


def _locked(policy: BruteForcePolicy, now: datetime) -> Q:
    return Q(failures__gte=policy.max_attempts, last_failure_at__gte=now - lock_time())


def sign_in_locked(*, connection: Connection, subject: str, ip: str | None) -> bool:
    """Whether this subject is locked out from this IP (one indexed read, before any hash)."""
    policy = BruteForcePolicy.of(connection)
    if not policy.enabled:
        return False
    found = SignInFailures.objects.filter(_counter(connection, subject, ip))
    return found.filter(_locked(policy, timezone.now())).exists()


def sign_in_failed(
    *, connection: Connection, subject: str, user: User | None, ip: str | None
) -> None:
    """Count one more failure, atomically: one UPDATE (`failures + 1`, or 1 again when the
    last failure is older than the lock time), or the first row; a concurrent first insert
    loses the unique constraint and counts by the UPDATE instead, so none is lost."""
    if not BruteForcePolicy.of(connection).enabled:
        return
    now = timezone.now()
    rows = SignInFailures.objects.filter(_counter(connection, subject, ip))

    def bump() -> int:
        return rows.update(
            failures=Case(
                When(last_failure_at__lt=now - lock_time(), then=Value(1)),
                default=F("failures") + 1,
            ),
            last_failure_at=now,
        )

    if bump():
        return
    try:
        with transaction.atomic():
            SignInFailures.objects.create(
                connection=connection,
                subject=subject,
                user=user,
                ip=client_ip(ip) or "",
                failures=1,
                last_failure_at=now,
            )
    except IntegrityError:
        bump()


def sign_in_succeeded(*, connection: Connection, subject: str, ip: str | None) -> None:
    """A success resets the count of this subject from this IP."""
    SignInFailures.objects.filter(_counter(connection, subject, ip)).delete()


def user_sign_in_locks(user: User) -> list[SignInFailures]:
    """The IPs this user is locked out from now, newest first."""
    policy = BruteForcePolicy.of(Connection.objects.get(pk=user.connection_id))
    return list(
        SignInFailures.objects.filter(user=user)
        .filter(_locked(policy, timezone.now()))
        .order_by("-last_failure_at")
    )


@transaction.atomic
def user_unblock_sign_ins(*, user: User, by: Context) -> list[str]:
    """Staff lift the user's brute-force locks (and forget their failure counts); audited as
    `user.unblock_sign_ins` with the IPs unblocked. Returns them; none: nothing recorded."""
    ips = [lock.ip for lock in user_sign_in_locks(user)]
    SignInFailures.objects.filter(user=user).delete()
    if ips:
        audit.record(
            tenant=user.tenant,
            ctx=by,
            action=AuditAction.USER_UNBLOCK_SIGN_INS,
            before={"sign_ins_blocked_from": ips},
            after={},
            target=user,
        )
    return ips
