from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import services
from users.audit import Actor, Context
from users.management.commands._cli import cli_tenant
from users.models import Channel, Scope


class Command(BaseCommand):
    help = (
        "Create a Management API client for a tenant. The token is printed once, as the "
        "last line; only its hash is kept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--scopes",
            required=True,
            help=f"Space- or comma-separated, from: {' '.join(Scope.values)}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        scopes = options["scopes"].replace(",", " ").split()
        by = Context(actor=Actor.system("create_api_client"), channel=Channel.CLI)
        try:
            client, token = services.api_client_create(
                tenant=tenant, name=options["name"], scopes=scopes, by=by
            )
        except services.ServiceError as error:
            raise CommandError(error.message) from None
        self.stderr.write(
            f"API client {client.name!r} of {tenant.slug} with {' '.join(client.scopes)}. "
            "Keep the token: it is shown only now."
        )
        self.stdout.write(token)
