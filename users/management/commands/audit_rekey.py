from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.audit_chain import ChainRefusal, Rekeyed, rekey
from users.audit_keys import ChainKey
from users.management.commands._cli import cli_context, cli_tenant
from users.models import Tenant


class Command(BaseCommand):
    help = (
        "Re-key audit chains under AUDIT_CHAIN_KEY: verify each chain under the key it was "
        "written with (none, for chains from before keys; else AUDIT_CHAIN_KEY_PREVIOUS or "
        "--old-key) and only then re-hash it and record an audit.rekey event. Refuses a "
        "chain that does not verify, and changes nothing of it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("tenant", nargs="?", help="Tenant slug")
        which.add_argument("--all", action="store_true", help="Every tenant")
        parser.add_argument(
            "--old-key",
            help=(
                "The key the chains were written with, if not in AUDIT_CHAIN_KEY_PREVIOUS "
                "(prefer the variable: a command line is visible to other local users)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["all"]:
            tenants = list(Tenant.objects.order_by("slug"))
        else:
            tenants = [cli_tenant(options["tenant"])]
        old_keys = [ChainKey.from_secret(options["old_key"])] if options["old_key"] else []
        refused = []
        for tenant in tenants:
            try:
                done = rekey(tenant, by=cli_context(), old_keys=old_keys)
            except ChainRefusal as error:
                refused.append(tenant.slug)
                self.stderr.write(error.message)
                continue
            self.stdout.write(_done_line(done))
        if refused:
            raise CommandError(
                f"{len(refused)} audit chain(s) not re-keyed: {', '.join(refused)}. "
                "Find what broke with audit_verify; nothing of them was changed."
            )


def _done_line(done: Rekeyed) -> str:
    slug = done.tenant.slug
    if done.old is None:
        return f"Audit chain of {slug} is already keyed with key {done.new.key_id}."
    return (
        f"Re-keyed the audit chain of {slug}: {done.events} events verified under "
        f"{done.old.label}, now keyed with key {done.new.key_id}. Take a new anchor "
        f"(manage.py audit_anchor {slug})."
    )
