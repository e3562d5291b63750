from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.management.commands._cli import cli_tenant
from users.search import SearchError, search_users
from users.search.query import MAX_PER_PAGE


class Command(BaseCommand):
    help = 'Search a tenant\'s users with the query language, e.g. "user_metadata.theme:dark".'

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("query", help="Lucene-style query; empty for everyone")
        parser.add_argument("--sort", help="field:1 or field:-1 (default created_at:-1)")
        parser.add_argument("--per-page", type=int, default=50, help=f"Up to {MAX_PER_PAGE}")
        parser.add_argument("--page", type=int, default=0)
        parser.add_argument("--exact-total", action="store_true", help="Count past 10,000")
        parser.add_argument("--json", action="store_true", help="One JSON object: total, users")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        try:
            result = search_users(
                tenant,
                options["query"],
                sort=options["sort"],
                page=options["page"],
                per_page=options["per_page"],
                exact_total=options["exact_total"],
                fields=["user_id", "email"],
            )
        except SearchError as error:
            raise CommandError(error.message) from None
        if options["json"]:
            users = [{"user_id": user.user_id, "email": user.email} for user in result.users]
            self.stdout.write(
                json.dumps({"total": result.total, "users": users}, ensure_ascii=False)
            )
            return
        for user in result.users:
            self.stdout.write(f"{user.user_id}\t{user.email or ''}")
        self.stdout.write(f"{result.total_display} users (showing {len(result.users)}).")
