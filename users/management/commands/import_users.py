from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.batches import ImportReport, import_users
from users.imports import ImportFileError, ImportFormat, read_rows
from users.management.commands._cli import cli_tenant


class Command(BaseCommand):
    help = (
        "Import users from Auth0's bulk-import JSON (an array) or the export's CSV. "
        "Prints the summary as JSON; failed rows say why."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("file", help="A .json or .csv file")
        parser.add_argument("--format", choices=("json", "csv"), help="Default: by extension")
        parser.add_argument(
            "--upsert", action="store_true", help="Update users that exist (by email)"
        )
        parser.add_argument("--metadata-mode", choices=("replace", "merge"), default="replace")
        parser.add_argument("--dry-run", action="store_true", help="Report, then write nothing")
        parser.add_argument(
            "--errors", help="Write every failed row to this file, one JSON object a line"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(f"No file {path}.")
        chosen = options["format"] or path.suffix.lower().lstrip(".")
        fmt: ImportFormat = "csv" if chosen == "csv" else "json"
        limit = settings.IMPORT_MAX_BYTES
        if path.stat().st_size > limit:
            raise CommandError(f"{path} is over the {limit:,}-byte limit; split it.")
        try:
            rows = read_rows(path.read_bytes(), fmt, max_bytes=limit)
        except ImportFileError as error:
            raise CommandError(error.message) from None
        with ExitStack() as stack:
            errors = (
                stack.enter_context(Path(options["errors"]).open("w"))
                if options["errors"]
                else None
            )

            def progress(
                report: ImportReport, next_row: int, failures: list[dict[str, Any]]
            ) -> None:
                if errors is not None:
                    errors.writelines(json.dumps(f, ensure_ascii=False) + "\n" for f in failures)
                self.stderr.write(f"{next_row:,} of {report.total:,} rows", ending="\r")

            report = import_users(
                tenant,
                rows,
                upsert=options["upsert"],
                metadata_mode=options["metadata_mode"],
                dry_run=options["dry_run"],
                checkpoint=progress,
            )
        self.stderr.write("")
        out = {**report.summary(), "dry_run": report.dry_run, "batch_id": report.batch_id}
        self.stdout.write(json.dumps(out))
        for failure in report.failures[:10]:
            self.stdout.write(
                f"row {failure['row']} ({failure['user']}): "
                + "; ".join(
                    f"{e['message']}" + (f" [{e['path']}]" if e["path"] else "")
                    for e in failure["errors"]
                )
            )
