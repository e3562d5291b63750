from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import services
from users.management.commands._cli import cli_context
from users.models import Plan, Tenant


class Command(BaseCommand):
    help = "Create a tenant with its database connection."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Short unique name, e.g. acme")
        parser.add_argument("--plan", required=True, choices=Plan.values)
        parser.add_argument("--name", default="", help="Display name (defaults to the slug)")
        parser.add_argument(
            "--domain",
            default="",
            help="The host name Auth0 SDKs reach the tenant at, e.g. login.acme.com "
            "(docs/authentication.md); without it, HOST/tenants/SLUG",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        slug: str = options["slug"]
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant {slug!r} already exists.")
        try:
            tenant = services.tenant_create(
                slug=slug,
                name=options["name"],
                plan=options["plan"],
                domain=options["domain"],
                by=cli_context(),
            )
        except ValidationError as error:
            raise CommandError("; ".join(error.messages)) from None
        self.stdout.write(f"Created tenant {tenant.slug} on the {tenant.plan} plan.")
