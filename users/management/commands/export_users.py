from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.errors import Refusal
from users.exports import FORMATS, export_users
from users.management.commands._cli import cli_tenant


class Command(BaseCommand):
    help = "Export a tenant's users (optionally those matching a query) as CSV or NDJSON."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("--q", default="", help="Only users matching this query")
        parser.add_argument(
            "--fields", help="Columns, e.g. user_id,email,user_metadata.plan:Plan (default: SPEC's)"
        )
        parser.add_argument("--format", default="csv", choices=FORMATS)
        parser.add_argument("--gzip", action="store_true", help="Compress the output")
        parser.add_argument("--output", help="File to write (default: standard output)")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        try:
            chunks = export_users(
                tenant,
                q=options["q"],
                columns=options["fields"],
                fmt=options["format"],
                gzip=options["gzip"],
            )
        except Refusal as error:
            raise CommandError(error.message) from None
        if options["output"]:
            with Path(options["output"]).open("wb") as out:
                for chunk in chunks:
                    out.write(chunk)
        else:
            stream = getattr(self.stdout, "_out", sys.stdout)
            binary = getattr(stream, "buffer", None)
            for chunk in chunks:
                if binary is not None:
                    binary.write(chunk)
                else:
                    stream.write(chunk.decode("utf-8", errors="replace"))
            stream.flush()
