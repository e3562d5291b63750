from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from users import services
from users.audit import Actor, Context
from users.management.commands._cli import cli_tenant
from users.models import Channel


class Command(BaseCommand):
    help = (
        "Rotate a tenant's token-signing key: a new key signs from now on; the current one "
        "is retired but still verifies (and stays in the JWKS) until the next rotation. "
        "Prints the new key's kid."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        by = Context(actor=Actor.system("rotate_signing_key"), channel=Channel.CLI)
        key = services.signing_key_rotate(tenant=tenant, by=by)
        self.stdout.write(key.kid)
