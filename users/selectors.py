"""Reads that more than one caller needs, written once (writes live in `users.services`)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from users import metadata
from users.models import AuditEvent, Tenant, User


def tenant_user(tenant: Tenant, user_id: str) -> User | None:
    """The tenant's user with that user_id (its connection loaded), or None, also for an id
    no user can have (PostgreSQL cannot even compare a string with NUL in it)."""
    if not metadata.storable_text(user_id):
        return None
    return User.objects.select_related("connection").filter(tenant=tenant, user_id=user_id).first()


def tenant_by_slug(slug: str) -> Tenant | None:
    if not metadata.storable_text(slug):
        return None
    return Tenant.objects.filter(slug=slug).first()


def batch_events(tenant: Tenant, batch_id: uuid.UUID | str) -> QuerySet[AuditEvent]:
    """The tenant's audit events of one batch (an import, a bulk edit, a batch revert)."""
    return AuditEvent.objects.filter(tenant=tenant, batch_id=batch_id)
