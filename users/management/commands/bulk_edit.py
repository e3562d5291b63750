from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import batches, metadata
from users.errors import Refusal
from users.management.commands._cli import cli_context, cli_tenant
from users.search import users_matching


class Command(BaseCommand):
    help = (
        "Set or remove one first-level metadata key on every user a query matches, audited as "
        "one batch (revertible as one with audit_revert_batch)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("query", help="Which users; empty for all")
        parser.add_argument("--tier", choices=metadata.TIERS, required=True)
        action = parser.add_mutually_exclusive_group(required=True)
        action.add_argument("--set", metavar="KEY=JSON", help='e.g. plan=\\"pro\\" or beta=true')
        action.add_argument("--remove", metavar="KEY")
        parser.add_argument("--dry-run", action="store_true", help="Report, then write nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        if options["set"]:
            key, sep, raw = options["set"].partition("=")
            if not sep or not key:
                raise CommandError('--set takes KEY=JSON, e.g. plan="pro".')
            try:
                value = metadata.parse_json(raw, what="The value")
            except metadata.MetadataError as error:
                raise CommandError(
                    f'The value {raw[:50]!r} is not JSON (quote strings: "pro"). {error.message}'
                ) from None
            remove = False
        else:
            key, value, remove = options["remove"], None, True
        try:
            users = users_matching(tenant, options["query"])
            report = batches.users_bulk_edit(
                tenant=tenant,
                users=users,
                tier=options["tier"],
                key=key,
                value=value,
                remove=remove,
                by=cli_context(),
                dry_run=options["dry_run"],
            )
        except Refusal as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            json.dumps(
                {
                    "matched": report.matched,
                    "changed": report.changed,
                    "failed": report.failed,
                    "dry_run": report.dry_run,
                    "batch_id": report.batch_id,
                }
            )
        )
        for failure in report.failures[:10]:
            self.stdout.write(f"{failure['user_id']}: {failure['message']}")
