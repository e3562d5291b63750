from __future__ import annotations

import random
import secrets
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from users import demo, services
from users.management.commands._cli import cli_context
from users.models import Plan, Role, Tenant, User

DEFAULT_TENANTS = (("acme", Plan.FREE), ("globex", Plan.PROFESSIONAL))
BATCH = 5000
ACCOUNTS_FILE = Path(settings.BASE_DIR) / ".demo-accounts.txt"


class Command(BaseCommand):
    help = (
        "Seed demo data: tenants with realistic users and one staff account per role. "
        "Default: acme (free) and globex (professional), 2,000 users each."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", help="Seed only this tenant (created when missing)")
        parser.add_argument("--plan", choices=Plan.values, help="Plan of a tenant created here")
        parser.add_argument("--users", type=int, default=2000, help="Users to add per tenant")
        parser.add_argument("--seed", type=int, default=7, help="Random seed (deterministic data)")
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when any tenant exists"
        )
        parser.add_argument(
            "--no-staff", action="store_true", help="Do not create the demo staff accounts"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["users"] < 0:
            raise CommandError("--users must be 0 or more.")
        if options["plan"] and not options["tenant"]:
            raise CommandError("--plan goes with --tenant.")
        if options["if_empty"] and Tenant.objects.exists():
            self.stdout.write("The database already has tenants; not seeding.")
            return
        wanted = (
            [(options["tenant"], options["plan"] or Plan.FREE)]
            if options["tenant"]
            else list(DEFAULT_TENANTS)
        )
        ctx = cli_context()
        rng = random.Random(options["seed"])
        tenants = []
        for slug, plan in wanted:
            tenant = Tenant.objects.filter(slug=slug).first()
            if tenant is None:
                tenant = services.tenant_create(slug=slug, name=slug.title(), plan=plan, by=ctx)
                self.stdout.write(f"Created tenant {slug} ({plan}).")
            tenants.append(tenant)
            started = time.monotonic()
            self._seed_users(tenant, options["users"], rng)
            self.stdout.write(
                f"Added {options['users']:,} users to {slug} in {time.monotonic() - started:.1f}s."
            )
        if not options["no_staff"]:
            self._seed_staff(tenants)

    def _seed_users(self, tenant: Tenant, count: int, rng: random.Random) -> None:
        ctx = cli_context()
        offset = User.objects.filter(tenant=tenant).count()
        for start in range(0, count, BATCH):
            rows = [
                demo.demo_user(rng, offset + i) for i in range(start, min(count, start + BATCH))
            ]
            services.user_bulk_create(
                tenant=tenant,
                bodies=[body for body, _ in rows],
                system_fields=[system for _, system in rows],
                by=ctx,
            )

    def _seed_staff(self, tenants: list[Tenant]) -> None:
        staff_model = get_user_model()
        ctx = cli_context()
        lines = []
        with transaction.atomic():
            for role in Role.values:
                email = f"{role}@demo.test"
                staff = staff_model.objects.filter(username=email).first()
                if staff is None:
                    password = secrets.token_urlsafe(9)
                    staff = staff_model(username=email, email=email)
                    staff.set_password(password)
                    staff.save()
                    lines.append(f"{email:<20} {password:<16} {role}")
                for tenant in tenants:
                    services.membership_set(staff=staff, tenant=tenant, role=role, by=ctx)
        if lines:
            # The accounts of the database just seeded; an older file named other passwords.
            ACCOUNTS_FILE.write_text("\n".join(lines) + "\n", encoding="utf-8")
            ACCOUNTS_FILE.chmod(0o600)
            self.stdout.write("Demo staff accounts (also kept in .demo-accounts.txt):")
            for line in lines:
                self.stdout.write(f"  {line}")
        else:
            self.stdout.write("Demo staff accounts already exist (see .demo-accounts.txt).")
