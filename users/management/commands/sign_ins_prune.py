from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from users import services


class Command(BaseCommand):
    help = (
        "Delete login-log rows older than LOGIN_LOG_DAYS (default 90) and brute-force failure "
        "counts older than BRUTE_FORCE_LOCK_MINUTES; prints how many sign-ins were deleted. "
        "Run it daily."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        deleted = services.sign_ins_prune()
        self.stdout.write(f"Deleted {deleted} sign-ins older than {settings.LOGIN_LOG_DAYS} days.")
