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

from playwright.sync_api import sync_playwright

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
        env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp}/shots.sqlite3", "DEBUG": "True"}
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
        browser.close()
    print(f"Screenshots in {OUT.relative_to(ROOT)}/")


if __name__ == "__main__":
    main()
