from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.audit_chain import ChainRefusal, anchor
from users.audit_keys import current_key
from users.management.commands._cli import cli_tenant


class Command(BaseCommand):
    help = (
        "Verify a tenant's audit chain and print a signed checkpoint of its head as the last "
        "line. Keep it outside the database; `audit_verify TENANT --anchor CHECKPOINT` then "
        "fails if the events up to it are rewritten or the tail is cut below it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        try:
            checkpoint = anchor(tenant)
        except ChainRefusal as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"Checkpoint of {tenant.slug} at event #{checkpoint.seq} "
            f"({checkpoint.at:%Y-%m-%d %H:%M:%S} UTC, key {checkpoint.key_id}), hash "
            f"{checkpoint.hash}. Store the line below outside this database."
        )
        self.stdout.write(checkpoint.signed(current_key()))
