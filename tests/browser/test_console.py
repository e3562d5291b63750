"""The console as an operator uses it, in a real browser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.factories import STAFF_PASSWORD, StaffFactory, TenantFactory, UserFactory
from users.models import Membership, Tenant, User

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def shop() -> dict[str, Any]:
    paid = TenantFactory.create(slug="globex", plan="professional")
    free = TenantFactory.create(slug="acme", plan="free")
    grace = UserFactory.create(
        tenant=paid,
        email="grace@globex.test",
        name="Grace Hopper",
        user_metadata={"theme": "dark", "city": "Arlington"},
    )
    UserFactory.create(
        tenant=paid, email="alan@globex.test", name="Alan Turing", user_metadata={"theme": "light"}
    )
    admin = StaffFactory.create(username="admin@staff.test")
    viewer = StaffFactory.create(username="viewer@staff.test")
    for tenant in (paid, free):
        Membership.objects.create(staff=admin, tenant=tenant, role="admin")
        Membership.objects.create(staff=viewer, tenant=tenant, role="viewer")
    return {"paid": paid, "free": free, "grace": grace}


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your tenants")).to_be_visible()


def users_url(base: str, tenant: Tenant) -> str:
    return f"{base}/t/{tenant.slug}/users/"


def test_search_edit_history_and_revert(page: Page, live_server: Any, shop: dict[str, Any]) -> None:
    base = live_server.url
    sign_in(page, base, "admin@staff.test")
    page.goto(users_url(base, shop["paid"]))
    page.get_by_label("Search").fill("user_metadata.theme:dark")
    expect(page.locator("#user-table")).to_contain_text("1 user match")
    expect(page).to_have_url(
        f"{users_url(base, shop['paid'])}?q=user_metadata.theme%3Adark&sort=created_at%3A-1"
    )
    page.get_by_role("link", name="grace@globex.test").click()
    expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()

    editor = page.locator("#editor-user_metadata")
    editor.get_by_label("user_metadata as JSON").fill(
        json.dumps({"theme": "light", "city": "Arlington"})
    )
    editor.get_by_role("button", name="Save user_metadata").click()
    expect(page.locator("#editor-user_metadata")).to_contain_text("Saved. This is version 2.")
    page.reload()
    history = page.locator("#history")
    expect(history).to_contain_text("user_metadata.theme")
    expect(history).to_contain_text('"dark" → "light"')

    page.once("dialog", lambda dialog: dialog.accept())
    history.locator("li").first.get_by_role("button", name="Revert").click()
    expect(page.locator(".messages")).to_contain_text("Reverted change")
    grace = User.objects.get(pk=shop["grace"].pk)
    assert grace.user_metadata["theme"] == "dark"


def test_two_editors_the_second_save_shows_the_conflict(
    browser: Browser, live_server: Any, shop: dict[str, Any]
) -> None:
    base = live_server.url
    grace = shop["grace"]
    url = f"{base}/t/globex/users/{grace.user_id}/"
    first, second = browser.new_context().new_page(), browser.new_context().new_page()
    for page in (first, second):
        sign_in(page, base, "admin@staff.test")
        page.goto(url)
    first.get_by_label("user_metadata as JSON").fill(json.dumps({"theme": "first"}))
    first.get_by_role("button", name="Save user_metadata").click()
    expect(first.locator("#editor-user_metadata")).to_contain_text("Saved.")
    second.get_by_label("user_metadata as JSON").fill(json.dumps({"theme": "second"}))
    second.get_by_role("button", name="Save user_metadata").click()
    editor = second.locator("#editor-user_metadata")
    expect(editor).to_contain_text("Someone else saved this user meanwhile")
    expect(editor).to_contain_text('"theme": "first"')
    expect(editor).to_contain_text('"theme": "second"')
    assert User.objects.get(pk=grace.pk).user_metadata == {"theme": "first"}


def test_a_viewer_cannot_edit(page: Page, live_server: Any, shop: dict[str, Any]) -> None:
    base = live_server.url
    sign_in(page, base, "viewer@staff.test")
    page.goto(f"{base}/t/globex/users/{shop['grace'].user_id}/")
    expect(page.locator("textarea")).to_have_count(0)
    expect(page.locator("#editor-user_metadata")).to_contain_text("Read-only")
    expect(page.get_by_role("button", name="Revert")).to_have_count(0)


def test_free_tenant_app_metadata_search_shows_the_plan_message(
    page: Page, live_server: Any, shop: dict[str, Any]
) -> None:
    base = live_server.url
    sign_in(page, base, "viewer@staff.test")
    page.goto(users_url(base, shop["free"]))
    page.get_by_label("Search").fill("app_metadata.plan:pro")
    alert = page.locator("#user-table [role=alert]")
    expect(alert).to_contain_text("Upgrade needed.")
    expect(alert).to_contain_text("Essentials plan or higher")


def test_a_bad_query_shows_where(page: Page, live_server: Any, shop: dict[str, Any]) -> None:
    base = live_server.url
    sign_in(page, base, "viewer@staff.test")
    page.goto(users_url(base, shop["paid"]))
    page.get_by_label("Search").fill("name:(grace")
    expect(page.locator("#user-table [role=alert]")).to_contain_text("Syntax error at position")


def test_export_the_search_results_as_a_download(
    page: Page, live_server: Any, shop: dict[str, Any], jobs_run_now: Any
) -> None:
    base = live_server.url
    sign_in(page, base, "admin@staff.test")
    page.goto(users_url(base, shop["paid"]) + "?q=user_metadata.theme:dark")
    expect(page.locator("#user-table")).to_contain_text("1 user match")
    with page.expect_download() as caught:
        page.get_by_role("link", name="CSV", exact=True).click()
    download = caught.value
    assert download.suggested_filename == "users-globex.csv"
    lines = download.path().read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("user_id,given_name,family_name,nickname,name,email,")
    assert len(lines) == 2 and "grace@globex.test" in lines[1]


def test_import_with_a_failing_row_dry_run_then_for_real(
    page: Page, live_server: Any, shop: dict[str, Any], jobs_run_now: Any
) -> None:
    base = live_server.url
    sign_in(page, base, "admin@staff.test")
    page.goto(users_url(base, shop["free"]))
    page.get_by_role("link", name="Import users").click()
    expect(page.get_by_role("heading", name="Import users")).to_be_visible()
    rows = [
        {"email": "new@acme.test", "user_metadata": {"theme": "dark"}},
        {"email": "bad@acme.test", "user_metadata": {"a.b": 1}},
    ]
    page.get_by_label("File").set_input_files(
        {"name": "users.json", "mimeType": "application/json", "buffer": json.dumps(rows).encode()}
    )
    page.get_by_role("button", name="Dry run").click()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Succeeded")
    expect(progress).to_contain_text("Dry run, nothing was written: would insert 1")
    expect(progress).to_contain_text("failed 1, of 2")
    expect(progress.locator("tr.outcome-failed")).to_contain_text("bad@acme.test")
    expect(progress.locator("tr.outcome-failed")).to_contain_text("user_metadata.a.b")
    assert not User.objects.filter(email="new@acme.test").exists()

    with page.expect_download() as caught:
        page.get_by_role("link", name="Download the 1 refused row with their errors").click()
    text = caught.value.path().read_text(encoding="utf-8")
    refused = [json.loads(line) for line in text.splitlines()]
    assert [(r["row"], r["user"], r["errors"][0]["path"]) for r in refused] == [
        (1, "bad@acme.test", "user_metadata.a.b")
    ]

    page.get_by_role("button", name="Import this file for real").click()
    expect(page.locator("#job-progress")).to_contain_text("Inserted 1, updated 0, failed 1, of 2")
    assert User.objects.get(email="new@acme.test").user_metadata == {"theme": "dark"}
    expect(page.get_by_role("button", name="Revert the whole batch")).to_be_visible()
