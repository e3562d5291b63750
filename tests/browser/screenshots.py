"""`make screenshots`: PNGs of the main pages into docs/screenshots/, from a fresh demo.

Seeds a throwaway SQLite database, serves it on 127.0.0.1:8765 and drives Debian's Chromium.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.request import urlopen

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "screenshots"
PORT = 8765
PASSWORD = "screenshots-only-Pa55"


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/shots.sqlite3",
            "DEBUG": "True",
            "JOB_FILES_DIR": f"{tmp}/jobs",
            # Jobs run in the request, so the job pages show them finished.
            "TASKS_BACKEND": "django_tasks.backends.immediate.ImmediateBackend",
        }
        manage(env, "migrate", "-v0")
        manage(env, "seed_demo", "--users", "600")
        manage(
            env,
            "shell",
            "-c",
            (
                "from django.contrib.auth.models import User as S; "
                "s = S.objects.get(username='admin@demo.test'); "
                f"s.set_password('{PASSWORD}'); s.save()"
            ),
        )
        server = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "runserver",
                f"127.0.0.1:{PORT}",
                "--noreload",
                "--insecure",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{PORT}"
            for _ in range(50):
                try:
                    urlopen(f"{base}/accounts/login/", timeout=1)
                    break
                except OSError:
                    time.sleep(0.2)
            shoot(base)
        finally:
            server.terminate()
            server.wait(timeout=10)


def shoot(base: str) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--disable-background-networking",
            ],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 860})
        page.goto(f"{base}/accounts/login/")
        page.screenshot(path=OUT / "sign-in.png")
        page.get_by_label("Email").fill("admin@demo.test")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.goto(f"{base}/t/globex/")
        page.screenshot(path=OUT / "dashboard.png", full_page=True)
        page.goto(f"{base}/t/globex/users/")
        page.get_by_label("Search").fill(
            'user_metadata.addresses.city:"Paris" AND email_verified:true'
        )
        page.wait_for_timeout(900)
        page.screenshot(path=OUT / "users-search.png")
        page.get_by_label("Search").fill("name:(ada")
        page.wait_for_timeout(900)
        page.screenshot(
            path=OUT / "users-query-error.png", clip={"x": 0, "y": 0, "width": 1280, "height": 420}
        )
        page.goto(f"{base}/t/acme/users/?q=app_metadata.plan:pro")
        page.screenshot(
            path=OUT / "users-plan-gate.png", clip={"x": 0, "y": 0, "width": 1280, "height": 420}
        )
        page.goto(f"{base}/t/globex/users/")
        page.locator("#user-table tbody tr a").first.click()
        editor = page.locator("#editor-user_metadata")
        editor.get_by_label("user_metadata as JSON").fill(
            json.dumps({"theme": "dark", "roles": ["admin"]}, indent=2)
        )
        editor.get_by_role("button", name="Preview changes").click()
        page.wait_for_timeout(700)
        page.screenshot(path=OUT / "user-page.png", full_page=True)
        page.goto(f"{base}/t/globex/audit/")
        page.screenshot(path=OUT / "audit-log.png")
        shoot_bulk_pages(page, base)
        browser.close()
    print(f"Screenshots in {OUT.relative_to(ROOT)}/")


def shoot_bulk_pages(page: Page, base: str) -> None:
    """Export, import (a dry run with a refused row), bulk edit preview, API clients."""
    page.goto(f"{base}/t/globex/users/export/?q=user_metadata.theme:dark")
    page.get_by_label("user_metadata.theme").check()
    page.screenshot(path=OUT / "export.png", full_page=True)
    rows = [
        {"email": "new.one@globex.test", "name": "New One", "user_metadata": {"theme": "dark"}},
        {"email": "new.two@globex.test", "app_metadata": {"plan": "pro"}},
        {"email": "broken@globex.test", "user_metadata": {"a.b": 1}},
        {"email": "new.one@globex.test", "name": "Twice"},
        {"email": "new.three@globex.test", "shoe_size": 44},
    ]
    page.goto(f"{base}/t/globex/users/import/")
    page.get_by_label("File").set_input_files(
        {"name": "users.json", "mimeType": "application/json", "buffer": json.dumps(rows).encode()}
    )
    page.get_by_role("button", name="Dry run").click()
    page.locator("#job-progress").get_by_text("Succeeded").wait_for()
    page.screenshot(path=OUT / "import-dry-run.png", full_page=True)
    page.goto(f"{base}/t/globex/users/bulk-edit/?q=user_metadata.theme:dark")
    page.get_by_label("Key").fill("beta")
    page.get_by_label("Value (JSON)").fill("true")
    page.get_by_role("button", name="Preview").click()
    page.screenshot(path=OUT / "bulk-edit-preview.png", full_page=True)
    page.goto(f"{base}/t/globex/api-clients/")
    page.get_by_label("Name").fill("billing-service")
    page.get_by_label("update:users").first.check()
    page.get_by_role("button", name="Create the client").click()
    page.screenshot(path=OUT / "api-clients.png", full_page=True)


if __name__ == "__main__":
    main()
