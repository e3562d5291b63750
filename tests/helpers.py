from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from users.models import AuditEvent, Tenant


def events(tenant: Tenant, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant=tenant, **filters).order_by("seq"))


on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (run with DATABASE_URL=postgres://...): row locks and triggers",
)
