from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from users.audit import ChainReport, verify_chain
from users.audit_chain import AnchorCheck, check_anchor
from users.audit_keys import CheckpointError
from users.management.commands._cli import cli_tenant
from users.models import Tenant


class Command(BaseCommand):
    help = (
        "Verify a tenant's audit hash chain under AUDIT_CHAIN_KEY; exits non-zero at the first "
        "break. With --anchor, also check it against a checkpoint printed by audit_anchor: "
        "fails when the events up to it were rewritten or the tail was cut below it."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="Tenant slug")
        parser.add_argument(
            "--anchor",
            metavar="CHECKPOINT",
            help="A checkpoint line from `manage.py audit_anchor`, kept outside the database",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = cli_tenant(options["tenant"])
        text = options["anchor"]
        anchored = None if text is None else _check_anchor(tenant, text)
        report = verify_chain(tenant)
        problems = []
        if not report.ok:
            problems.append(_chain_problem(tenant, report))
        if anchored is not None and not anchored.ok:
            problems.append(_anchor_line(tenant, anchored))
        if problems:
            raise CommandError("\n".join(problems))
        self.stdout.write(f"Audit chain of {tenant.slug} verifies: {report.checked} events.")
        if anchored is not None:
            self.stdout.write(_anchor_line(tenant, anchored))


def _check_anchor(tenant: Tenant, text: str) -> AnchorCheck:
    try:
        return check_anchor(tenant, text)
    except CheckpointError as error:
        raise CommandError(f"Bad checkpoint for {tenant.slug}: {error.message}") from None


def _chain_problem(tenant: Tenant, report: ChainReport) -> str:
    if report.key_problem:
        return f"Audit chain of {tenant.slug} cannot be verified: {report.key_problem}."
    return (
        f"Audit chain of {tenant.slug} is BROKEN at event #{report.broken_at}: "
        f"{report.reason} ({report.checked} events verified before it)."
    )


def _anchor_line(tenant: Tenant, anchored: AnchorCheck) -> str:
    checkpoint = anchored.checkpoint
    taken = f"checkpoint of {checkpoint.at:%Y-%m-%d %H:%M:%S} UTC at event #{checkpoint.seq}"
    if anchored.ok:
        return f"It matches the {taken} (key {checkpoint.key_id})."
    return f"Audit chain of {tenant.slug} does NOT match the {taken}: {anchored.problem}."
