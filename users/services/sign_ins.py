"""What a successful sign-in writes: the user's sign-in bookkeeping, and a stronger hash of a
password stored in an older format (a bcrypt hash from an Auth0 import).

Neither records an audit event: a sign-in changes nothing anyone edits (no profile field, no
metadata, no version), and one event per sign-in would bury the changes the log is for.
Hashing happens before this is called, outside any transaction.
"""

from __future__ import annotations

import ipaddress

from django.db.models import F
from django.utils import timezone

from users.models import User


def _ip(text: str | None) -> str | None:
    """The first address of a header such as `auth0-forwarded-for`, if it is one."""
    first = (text or "").split(",")[0].strip()
    try:
        return str(ipaddress.ip_address(first))
    except ValueError:
        return None


def user_record_sign_in(*, user: User, ip: str | None) -> None:
    """logins_count + 1, last_login now, last_ip: one UPDATE, atomic on its own."""
    User.objects.filter(pk=user.pk).update(
        logins_count=F("logins_count") + 1, last_login=timezone.now(), last_ip=_ip(ip)
    )


def user_store_rehashed_password(*, user: User, old_hash: str, new_hash: str) -> None:
    """Replace a password's stored hash by a stronger one of the same password, unless the
    password was changed meanwhile (the stored hash is no longer `old_hash`)."""
    User.objects.filter(pk=user.pk, password=old_hash).update(password=new_hash)
