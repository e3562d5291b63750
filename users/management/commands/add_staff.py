from __future__ import annotations

import getpass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import validate_email
from django.db import transaction

from users import services
from users.management.commands._cli import cli_context, cli_tenant
from users.models import Role


class Command(BaseCommand):
    help = "Create a staff account (or reuse it) and give it a role in a tenant."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--tenant", required=True, help="Tenant slug")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password", help="Password for a new account; prompted for when not given"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email: str = options["email"].strip().lower()
        try:
            validate_email(email)
        except ValidationError:
            raise CommandError(f"{email!r} is not an email address.") from None
        tenant = cli_tenant(options["tenant"])
        staff_model = get_user_model()
        staff = staff_model.objects.filter(username=email).first()
        password: str | None = options["password"]
        if staff is None and password is None:
            password = self._prompt_password()
        with transaction.atomic():
            if staff is None:
                staff = staff_model(username=email, email=email)
                assert password is not None
                try:
                    validate_password(password, staff)
                except ValidationError as error:
                    raise CommandError(" ".join(error.messages)) from None
                staff.set_password(password)
                staff.save()
                created = True
            else:
                if password is not None:
                    raise CommandError(
                        f"{email} already exists; its password is not changed here "
                        "(use manage.py changepassword)."
                    )
                created = False
            services.membership_set(
                staff=staff, tenant=tenant, role=options["role"], by=cli_context()
            )
        verb = "Created" if created else "Updated"
        self.stdout.write(f"{verb} {email}: {options['role']} of {tenant.slug}.")

    def _prompt_password(self) -> str:
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("The passwords did not match.")
        return first
