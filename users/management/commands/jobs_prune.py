from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from users.jobs import FILE_LIFETIME, prune_expired_files


class Command(BaseCommand):
    help = f"Delete job files older than {FILE_LIFETIME} (every export job also does this)."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"Deleted {prune_expired_files()} expired job files.")
