"""Every console page, and the Django admin, under the Content-Security-Policy: not one
violation, and htmx still works (search as you type, the editor's preview and save, a job's
progress polling)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from tests.conftest import IMMEDIATE_TASKS, QUEUED_TASKS
from tests.factories import (
    FACTORY_CONTEXT,
    STAFF_PASSWORD,
    StaffFactory,
    TenantFactory,
    UserFactory,
)
from users import jobs, services
from users.models import Job, Membership, Role, User

pytestmark = pytest.mark.django_db(transaction=True)

# Runs in every page before its own scripts: keeps each violation the page reports.
RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push({
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  });
}, true);
"""


@dataclass
class Watch:
    """What a page said that a policy problem would make it say: violations, console errors
    and uncaught exceptions, with the page they came from."""

    page: Page
    problems: list[str] = field(default_factory=list)
    visited: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.add_init_script(RECORD_VIOLATIONS)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico on its own; the console has none (a 404).
        if message.location.get("url", "").endswith("/favicon.ico"):
            return
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type} on {self.page.url}: {message.text}")

    def collect(self) -> None:
        """The violations the current document recorded (they vanish with it)."""
        for violation in self.page.evaluate("window.__cspViolations || []"):
            self.problems.append(f"violation on {self.page.url}: {json.dumps(violation)}")
        self.page.evaluate("window.__cspViolations = []")

    def visit(self, url: str, heading: str | None) -> None:
        """Open a page, see that it came with the policy and shows what it should."""
        response = self.page.goto(url)
        assert response is not None and response.status == 200, (url, response)
        assert_policy(response)
        if heading is not None:
            expect(self.page.get_by_role("heading", name=heading).first).to_be_visible()
        self.page.wait_for_load_state("load")
        self.collect()
        self.visited.append(url)


def assert_policy(response: Response) -> None:
    policy = response.headers.get("content-security-policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in policy.split("; ") if part}
    assert directives.get("script-src") == ["'self'"], policy
    assert directives.get("style-src") == ["'self'"], policy
    assert directives.get("frame-ancestors") == ["'none'"], policy
    assert response.headers.get("cache-control") == "no-store"


@pytest.fixture
def console(settings: Any, tmp_path: Any) -> Iterator[dict[str, Any]]:
    """A paid tenant with users, an owner, an API client, a finished export job and one that
    waits for a worker; and a superuser for the Django admin."""
    settings.JOB_FILES_DIR = tmp_path
    tenant = TenantFactory.create(slug="globex", plan="professional")
    grace = UserFactory.create(
        tenant=tenant,
        email="grace@globex.test",
        name="Grace Hopper",
        user_metadata={"theme": "dark", "city": "Arlington"},
        app_metadata={"plan": "pro"},
    )
    UserFactory.create(
        tenant=tenant,
        email="alan@globex.test",
        name="Alan Turing",
        user_metadata={"theme": "light"},
    )
    owner = StaffFactory.create(username="owner@staff.test")
    Membership.objects.create(staff=owner, tenant=tenant, role=Role.OWNER)
    services.api_client_create(
        tenant=tenant, name="billing", scopes=("read:users",), by=FACTORY_CONTEXT
    )
    settings.TASKS = IMMEDIATE_TASKS
    done = jobs.export_job_start(
        tenant=tenant, staff_pk=owner.pk, q="", columns=None, fmt="csv", gzip=False
    )
    settings.TASKS = QUEUED_TASKS
    waiting = jobs.export_job_start(
        tenant=tenant, staff_pk=owner.pk, q="", columns=None, fmt="ndjson", gzip=False
    )
    StaffFactory.create(username="root@staff.test", is_superuser=True, is_staff=True)
    assert Job.objects.get(pk=done.pk).status == Job.Status.SUCCEEDED
    yield {"tenant": tenant, "grace": grace, "done": done, "waiting": waiting}


def sign_in(watch: Watch, base: str, username: str) -> None:
    watch.visit(f"{base}/accounts/login/", "Sign in")
    page = watch.page
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your tenants")).to_be_visible()
    watch.collect()


def test_no_page_of_the_console_breaks_the_policy(
    browser: Browser, live_server: Any, console: dict[str, Any]
) -> None:
    base = live_server.url
    slug = console["tenant"].slug
    grace: User = console["grace"]
    watch = Watch(browser.new_context().new_page())
    page = watch.page
    sign_in(watch, base, "owner@staff.test")

    watch.visit(f"{base}/", "Your tenants")
    watch.visit(f"{base}{reverse('users:dashboard', args=[slug])}", "Sign-ups per day")

    # The users list, and search as you type (htmx swaps the table in).
    watch.visit(f"{base}{reverse('users:user_list', args=[slug])}?q=email:*", "Users")
    page.get_by_label("Search").fill("user_metadata.theme:dark")
    expect(page.locator("#user-table")).to_contain_text("1 user match")
    expect(page).to_have_url(
        f"{base}/t/{slug}/users/?q=user_metadata.theme%3Adark&sort=created_at%3A-1"
    )
    watch.collect()

    # A user page: the editor's diff preview, then the save (both htmx), then the history.
    watch.visit(f"{base}{reverse('users:user_detail', args=[slug, grace.user_id])}", "Grace Hopper")
    editor = page.locator("#editor-user_metadata")
    editor.get_by_label("user_metadata as JSON").fill(
        json.dumps({"theme": "light", "city": "Arlington"})
    )
    editor.get_by_role("button", name="Preview changes").click()
    expect(page.locator("#editor-user_metadata .preview")).to_contain_text('"dark" → "light"')
    watch.collect()
    page.locator("#editor-user_metadata").get_by_role("button", name="Save user_metadata").click()
    expect(page.locator("#editor-user_metadata")).to_contain_text("Saved. This is version 2.")
    watch.collect()
    page.reload()
    expect(page.locator("#history")).to_contain_text('"dark" → "light"')
    watch.collect()

    # The audit log, filtered with htmx.
    watch.visit(f"{base}{reverse('users:audit_log', args=[slug])}", "Audit log")
    page.get_by_label("Action").select_option("user.update")
    expect(page).to_have_url(re.compile(r"[?&]action=user\.update"))
    expect(page.locator("#audit-table")).to_contain_text("#", timeout=5000)
    expect(page.locator("#audit-table")).not_to_contain_text("tenant.create")
    watch.collect()

    watch.visit(f"{base}{reverse('users:user_export', args=[slug])}?q=email:*", "Export users")
    watch.visit(f"{base}{reverse('users:import_start', args=[slug])}", "Import users")
    watch.visit(f"{base}{reverse('users:bulk_edit', args=[slug])}?q=email:*", "Bulk edit")
    watch.visit(f"{base}{reverse('users:job_list', args=[slug])}", "Jobs")
    done, waiting = console["done"], console["waiting"]
    watch.visit(f"{base}{reverse('users:job_detail', args=[slug, done.pk])}", f"Export #{done.pk}")
    expect(
        page.get_by_role("link", name=f"Download {Job.objects.get(pk=done.pk).file_name}")
    ).to_be_visible()
    # A queued job's page polls for its progress every second (htmx).
    waiting_url = f"{base}{reverse('users:job_detail', args=[slug, waiting.pk])}"
    with page.expect_response(
        lambda r: r.url == waiting_url and r.request.headers.get("hx-request") == "true"
    ) as polled:
        watch.visit(waiting_url, f"Export #{waiting.pk}")
    assert polled.value.status == 200
    assert_policy(polled.value)
    watch.collect()
    watch.visit(f"{base}{reverse('users:api_clients', args=[slug])}", "API clients")
    watch.visit(f"{base}{reverse('users:tenant_settings', args=[slug])}", "Settings")

    # The Django admin, as a superuser: its sign-in, the users changelist and a change form.
    admin = Watch(browser.new_context().new_page())
    admin.visit(f"{base}/admin/login/?next=/admin/", None)
    admin.page.get_by_label("Username").fill("root@staff.test")
    admin.page.get_by_label("Password").fill(STAFF_PASSWORD)
    admin.page.get_by_role("button", name="Log in").click()
    expect(admin.page.get_by_role("heading", name="Site administration")).to_be_visible()
    admin.collect()
    admin.visit(f"{base}{reverse('admin:users_user_changelist')}", "Select user to change")
    admin.visit(f"{base}{reverse('admin:users_user_change', args=[grace.pk])}", "Change user")

    assert watch.problems + admin.problems == []
    assert len(watch.visited) + len(admin.visited) >= 17


def test_the_watch_sees_a_violation(page: Page, live_server: Any) -> None:
    """The recorder is not blind: an inline script and a style attribute are both reported."""
    watch = Watch(page)
    watch.visit(f"{live_server.url}/accounts/login/", "Sign in")
    page.evaluate(
        """() => {
          const script = document.createElement("script");
          script.textContent = "window.ran = true";
          document.body.append(script);
          document.body.setAttribute("style", "color: red");
        }"""
    )
    page.wait_for_function("window.__cspViolations.length >= 2")
    assert page.evaluate("window.ran") is None
    watch.collect()
    directives = " ".join(watch.problems)
    assert "script-src" in directives and "style-src" in directives
