from __future__ import annotations

import re
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from users.models import AuditEvent, Tenant


def events(tenant: Tenant, **filters: Any) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(tenant=tenant, **filters).order_by("seq"))


on_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL (run with DATABASE_URL=postgres://...): row locks and triggers",
)


def bulk_edit_previewed(client: Client, tenant: Tenant, data: dict[str, str]) -> dict[str, str]:
    """Preview a bulk edit in the console; returns what its Apply form posts, confirmed."""
    url = reverse("users:bulk_edit", args=[tenant.slug])
    preview = client.post(url, {**data, "intent": "preview"}).content.decode()
    token = re.search(r'name="previewed" value="([^"]+)"', preview)
    confirm = re.search(r'name="confirm" value="(\d+)"', preview)
    assert token and confirm, "the preview offers no Apply"
    return {"intent": "apply", "previewed": token[1], "confirm": confirm[1]}


def bulk_edit_apply(client: Client, tenant: Tenant, data: dict[str, str]) -> Any:
    """What an operator does in the console: preview the bulk edit, confirm its count, apply."""
    apply = bulk_edit_previewed(client, tenant, data)
    return client.post(reverse("users:bulk_edit", args=[tenant.slug]), apply)
