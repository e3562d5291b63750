from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users import services
from users.audit import Actor, Context
from users.auth.tenancy import LOCAL_HOST, sdk_domain
from users.management.commands._cli import cli_tenant
from users.models import DEFAULT_GRANTS, GRANT_SHORT_NAMES, Channel


def grant_type(name: str) -> str:
    """A grant by its short name (password-realm) or its full one."""
    full = GRANT_SHORT_NAMES.get(name, name)
    if full not in GRANT_SHORT_NAMES.values():
        raise CommandError(
            f"Unknown grant {name!r}: use {', '.join(GRANT_SHORT_NAMES)} (or the full names)."
        )
    return full


class Command(BaseCommand):
    help = (
        "Create an application (Auth0's client) that end users sign in to. The last line of "
        'output is one JSON object {"client_id", "client_secret", "domain"}: the secret '
        "(null for a public application) is shown only now, and `domain` is what an Auth0 "
        "SDK's domain setting must be to reach the tenant on this server."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument("--name", required=True)
        parser.add_argument(
            "--grant",
            action="append",
            default=None,
            help=f"A grant to allow (repeat): {', '.join(GRANT_SHORT_NAMES)}. Default: "
            "authorization_code and refresh_token; the password grants only when named.",
        )
        parser.add_argument("--callback", action="append", default=[], help="Callback URL")
        parser.add_argument("--logout-url", action="append", default=[], help="Logout URL")
        parser.add_argument(
            "--public", action="store_true", help="A public application: no client secret"
        )
        parser.add_argument(
            "--host",
            default=LOCAL_HOST,
            help="This server's host (and port) as SDKs reach it, for the path-form domain of "
            f"a tenant without its own domain (default {LOCAL_HOST}, where `make run` serves)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        grants = options["grant"]
        by = Context(actor=Actor.system("create_application"), channel=Channel.CLI)
        try:
            application, secret = services.application_create(
                tenant=tenant,
                name=options["name"],
                callback_urls=options["callback"],
                logout_urls=options["logout_url"],
                grant_types=DEFAULT_GRANTS if grants is None else map(grant_type, grants),
                public=options["public"],
                by=by,
            )
        except services.ServiceError as error:
            raise CommandError(error.message) from None
        kind = "public" if application.is_public else "confidential"
        self.stderr.write(
            f"Application {application.name!r} ({kind}) of {tenant.slug} with "
            f"{' '.join(application.grant_types) or 'no grants'}."
            + ("" if secret is None else " Keep the client secret: it is shown only now.")
        )
        found = {
            "client_id": application.client_id,
            "client_secret": secret,
            "domain": sdk_domain(tenant, options["host"]),
        }
        self.stdout.write(json.dumps(found))
