from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import batches, services
from users.management.commands._cli import cli_context, cli_tenant


class Command(BaseCommand):
    help = "Revert every change of a batch (an import or a bulk edit); conflicts are reported."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("batch_id", help="The batch id the import or bulk edit printed")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        try:
            batch_id = uuid.UUID(options["batch_id"])
        except ValueError:
            raise CommandError(f"{options['batch_id']!r} is not a batch id.") from None
        try:
            report = batches.audit_revert_batch(tenant=tenant, batch_id=batch_id, by=cli_context())
        except services.RevertConflict as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            json.dumps(
                {
                    "changes": report.matched,
                    "reverted": report.changed,
                    "conflicts": report.failed,
                    "batch_id": report.batch_id,
                }
            )
        )
        for failure in report.failures[:10]:
            self.stdout.write(f"#{failure['seq']} {failure['user_id']}: {failure['message']}")
