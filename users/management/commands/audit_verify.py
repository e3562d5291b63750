from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.audit import verify_chain
from users.management.commands._cli import cli_tenant


class Command(BaseCommand):
    help = "Verify a tenant's audit hash chain; exits non-zero at the first break."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        report = verify_chain(tenant)
        if not report.ok:
            raise CommandError(
                f"Audit chain of {tenant.slug} is BROKEN at event #{report.broken_at}: "
                f"{report.reason} ({report.checked} events verified before it)."
            )
        self.stdout.write(f"Audit chain of {tenant.slug} verifies: {report.checked} events.")
