"""The tenants' token-signing keys: the current one (made on first use) and rotation.

A tenant has one current key, which signs, and keeps the key it retired last, which still
verifies (and is still published in the JWKS), so tokens signed just before a rotation stay
valid until they expire. Rotation is audited without any key material."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from users import audit
from users.audit import Context
from users.auth import crypto
from users.models import AuditAction, SigningKey, Tenant

PUBLISHED_KEYS = 2  # the current key and the one before it


def signing_key_current(tenant: Tenant) -> SigningKey:
    """The tenant's current signing key, made on first use (key generation takes ~0.1 s,
    too slow to spend on every tenant made, in tests and seeds, that never signs)."""
    current = SigningKey.objects.filter(tenant=tenant, retired_at__isnull=True).first()
    if current is not None:
        return current
    made = crypto.new_key()  # before the transaction: on SQLite it holds the write lock
    try:
        with transaction.atomic():
            return _store(tenant, made)
    except IntegrityError:  # another request made the first key at the same moment
        return SigningKey.objects.get(tenant=tenant, retired_at__isnull=True)


def signing_keys_published(tenant: Tenant) -> list[SigningKey]:
    """The keys that verify tokens: the current one and the one retired last, newest first."""
    signing_key_current(tenant)
    return list(SigningKey.objects.filter(tenant=tenant).order_by("-pk")[:PUBLISHED_KEYS])


def signing_key_rotate(*, tenant: Tenant, by: Context) -> SigningKey:
    """Retire the current key (it keeps verifying) and make a new one that signs from now on."""
    made = crypto.new_key()
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()  # one rotation at once
        old = SigningKey.objects.filter(tenant=tenant, retired_at__isnull=True).first()
        if old is not None:
            old.retired_at = timezone.now()
            old.save(update_fields=["retired_at"])
        new = _store(tenant, made)
        audit.record(
            tenant=tenant,
            ctx=by,
            action=AuditAction.SIGNING_KEY_ROTATE,
            before={"kid": old.kid if old else None},
            after={"kid": new.kid},
        )
    return new


def _store(tenant: Tenant, made: crypto.NewKey) -> SigningKey:
    return SigningKey.objects.create(
        tenant=tenant,
        kid=made.kid,
        public_jwk=made.public_jwk,
        private_key_encrypted=crypto.seal(made.private_pem, tenant_pk=tenant.pk, kid=made.kid),
    )
