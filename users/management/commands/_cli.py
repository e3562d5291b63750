"""What every management command shares: who the CLI acts as, and the tenant it names."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandError

from users.audit import Actor, Context
from users.models import ActorKind, Channel, Tenant
from users.selectors import tenant_by_slug


def cli_context() -> Context:
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    return Context(actor=Actor(ActorKind.SYSTEM, "", f"cli:{who}"), channel=Channel.CLI)


def cli_tenant(slug: str) -> Tenant:
    """The tenant a command names, or a CommandError saying how to create it."""
    tenant = tenant_by_slug(slug)
    if tenant is None:
        raise CommandError(f"No tenant {slug!r}; create it with create_tenant.")
    return tenant
