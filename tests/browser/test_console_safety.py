"""The console's safety nets, in a real browser: two operators saving the same user, a bulk
edit that applies exactly what was previewed, a batch revert that asks first, and an edit
kept across a session that expired while it was being saved."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Request,
    ViewportSize,
    expect,
)

from tests.factories import STAFF_PASSWORD, StaffFactory, TenantFactory, UserFactory
from users import jobs
from users.models import Job, Membership, User

pytestmark = pytest.mark.django_db(transaction=True)

VIEWPORT: ViewportSize = {"width": 1280, "height": 900}

NewPage = Callable[[], Page]


@pytest.fixture
def new_page(browser: Browser) -> Iterator[NewPage]:
    """A page in a browser context of its own (its own cookies: its own operator), 1280 px
    wide; every context is closed after the test."""
    contexts: list[BrowserContext] = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT)
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def shop() -> dict[str, Any]:
    paid = TenantFactory.create(slug="globex", plan="professional")
    grace = UserFactory.create(
        tenant=paid,
        email="grace@globex.test",
        name="Grace Hopper",
        user_metadata={"theme": "dark", "hobby": "chess"},
        app_metadata={"plan": "pro"},
    )
    ada = UserFactory.create(
        tenant=paid, email="ada@globex.test", name="Ada Lovelace", user_metadata={"theme": "dark"}
    )
    alan = UserFactory.create(
        tenant=paid, email="alan@globex.test", name="Alan Turing", user_metadata={"theme": "light"}
    )
    for username, role in (("owner@staff.test", "owner"), ("admin@staff.test", "admin")):
        staff = StaffFactory.create(username=username)
        Membership.objects.create(staff=staff, tenant=paid, role=role)
    return {"paid": paid, "grace": grace, "ada": ada, "alan": alan}


def fill_sign_in(page: Page, username: str) -> None:
    page.get_by_label("Email").fill(username)
    page.get_by_label("Password").fill(STAFF_PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    fill_sign_in(page, username)
    expect(page.get_by_role("heading", name="Your tenants")).to_be_visible()


def user_url(base: str, user: User) -> str:
    return base + reverse("users:user_detail", args=[user.tenant.slug, user.user_id])


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


def editor(page: Page, tier: str) -> Locator:
    return page.locator(f"#editor-{tier}")


def shown_document(page: Page, tier: str) -> dict[str, Any]:
    text = editor(page, tier).get_by_label(f"{tier} as JSON").input_value()
    document: dict[str, Any] = json.loads(text)
    return document


def edit_and_save(page: Page, tier: str, **changes: Any) -> None:
    """Change first-level keys of the document the editor shows, then press Save."""
    document = {**shown_document(page, tier), **changes}
    editor(page, tier).get_by_label(f"{tier} as JSON").fill(json.dumps(document, indent=2))
    save(page, tier)


def save(page: Page, tier: str) -> None:
    """Press Save and wait for the answer: the editor may still show an earlier "Saved."."""
    with page.expect_response(lambda r: r.request.method == "POST" and f"/{tier}/" in r.url):
        editor(page, tier).get_by_role("button", name=f"Save {tier}").click()


def shown_version(page: Page) -> Locator:
    return page.locator("#profile dt", has_text="Version").locator("xpath=following-sibling::dd[1]")


def test_two_operators_merge_their_keys_and_a_clash_is_shown_per_key(
    new_page: NewPage, live_server: Any, shop: dict[str, Any]
) -> None:
    base, grace = live_server.url, shop["grace"]
    a, b = new_page(), new_page()
    sign_in(a, base, "owner@staff.test")
    sign_in(b, base, "admin@staff.test")
    for page in (a, b):
        page.goto(user_url(base, grace))
        expect(page.get_by_role("heading", name="Grace Hopper")).to_be_visible()
    version_before = fresh(grace).version
    expect(shown_version(b)).to_have_text(str(version_before))

    # Different keys: B's save, from the page that still shows the old document, succeeds.
    edit_and_save(a, "user_metadata", from_a="a")
    expect(editor(a, "user_metadata")).to_contain_text("Saved.")
    edit_and_save(b, "user_metadata", from_b="b")
    expect(editor(b, "user_metadata")).to_contain_text("Saved.")
    expect(editor(b, "user_metadata")).not_to_contain_text("Someone else saved")
    assert fresh(grace).user_metadata == {
        "theme": "dark",
        "hobby": "chess",
        "from_a": "a",
        "from_b": "b",
    }
    # The save swapped the profile out of band: its Version is current without a reload.
    saved_version = fresh(grace).version
    assert saved_version > version_before
    expect(shown_version(b)).to_have_text(str(saved_version))

    # The same key: the second saver is shown the clash, per key, and nothing is saved.
    edit_and_save(a, "user_metadata", hobby="sailing")
    expect(editor(a, "user_metadata")).to_contain_text("Saved.")
    after_a = fresh(grace)
    edit_and_save(b, "user_metadata", hobby="knitting")
    clash = editor(b, "user_metadata")
    expect(clash).to_contain_text("Someone else saved this user meanwhile")
    clashes = clash.locator("table.clashes tbody tr")
    expect(clashes).to_have_count(1)
    expect(clashes.first.locator("td").nth(0)).to_have_text("user_metadata.hobby")
    expect(clashes.first.locator("td").nth(1)).to_contain_text('"sailing"')
    expect(clashes.first.locator("td").nth(2)).to_contain_text('"knitting"')
    assert fresh(grace).user_metadata == after_a.user_metadata
    assert fresh(grace).version == after_a.version

    # B saves again, from the form now shown: B's value wins, A's other keys are kept.
    assert shown_document(b, "user_metadata")["hobby"] == "knitting"
    save(b, "user_metadata")
    expect(editor(b, "user_metadata")).to_contain_text("Saved.")
    expect(editor(b, "user_metadata")).not_to_contain_text("Someone else saved")
    assert fresh(grace).user_metadata == {
        "theme": "dark",
        "hobby": "knitting",
        "from_a": "a",
        "from_b": "b",
    }

    # Then app_metadata, from the same page, with no reload: no conflict, and the profile
    # shows the new version.
    edit_and_save(b, "app_metadata", tier_b="gold")
    expect(editor(b, "app_metadata")).to_contain_text("Saved.")
    expect(editor(b, "app_metadata")).not_to_contain_text("Someone else saved")
    final = fresh(grace)
    assert final.app_metadata == {"plan": "pro", "tier_b": "gold"}
    assert final.user_metadata["hobby"] == "knitting"
    expect(shown_version(b)).to_have_text(str(final.version))


def test_bulk_edit_applies_exactly_what_was_previewed(
    new_page: NewPage, live_server: Any, shop: dict[str, Any], jobs_run_now: Any
) -> None:
    base = live_server.url
    page = new_page()
    sign_in(page, base, "admin@staff.test")
    page.goto(base + reverse("users:bulk_edit", args=["globex"]))
    expect(page.get_by_role("heading", name="Bulk edit")).to_be_visible()
    narrow = "user_metadata.theme:dark AND email:grace@globex.test"
    page.get_by_label("Users matching").fill(narrow)
    page.get_by_label("Tier").select_option("user_metadata")
    page.get_by_label("Key").fill("flag")
    page.get_by_label("Action").select_option("set")
    page.get_by_label("Value (JSON)").fill("true")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview: nothing was changed")).to_be_visible()
    expect(page.get_by_text("1 user match; 1 would change")).to_be_visible()

    # A wider query in the box (2 users), not previewed.
    page.get_by_label("Users matching").fill("user_metadata.theme:dark")
    apply = page.get_by_role("button", name="Apply to 1 user")
    confirm = page.get_by_label("Yes, apply it to the 1 matching user")

    # Apply without the confirmation: nothing is sent, or the server refuses; nothing queued.
    posted: list[str] = []

    def record(request: Request) -> None:
        if request.method == "POST":
            posted.append(request.url)

    page.on("request", record)
    apply.click()
    page.wait_for_timeout(500)
    page.remove_listener("request", record)
    if posted:  # the browser let it through: the server must have refused it
        expect(page.locator("[role=alert]")).to_contain_text("Confirm that you want to change")
    else:
        assert confirm.evaluate("box => box.validity.valueMissing") is True
    assert not Job.objects.exists()
    assert all("flag" not in fresh(user).user_metadata for user in User.objects.all())

    confirm.check()
    apply.click()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Succeeded")
    expect(progress).to_contain_text(re.compile(r"\b1 users? done: 1 changed, 0 refused\."))
    job = Job.objects.get()
    assert job.kind == Job.Kind.BULK_EDIT and job.status == Job.Status.SUCCEEDED
    assert job.params["q"] == narrow
    assert page.url == base + reverse("users:job_detail", args=["globex", job.pk])
    assert fresh(shop["grace"]).user_metadata == {"theme": "dark", "hobby": "chess", "flag": True}
    assert fresh(shop["ada"]).user_metadata == {"theme": "dark"}
    assert fresh(shop["alan"]).user_metadata == {"theme": "light"}


def test_reverting_the_whole_batch_asks_first(
    new_page: NewPage, live_server: Any, shop: dict[str, Any], jobs_run_now: Any
) -> None:
    base, tenant = live_server.url, shop["paid"]
    edit = jobs.bulk_edit_job_start(
        tenant=tenant,
        staff_pk=None,
        q="user_metadata.theme:dark",
        tier="user_metadata",
        key="flag",
        value=True,
        remove=False,
    )
    edit.refresh_from_db()
    assert edit.status == Job.Status.SUCCEEDED
    flagged = {"grace": True, "ada": True}
    assert {n: fresh(shop[n]).user_metadata.get("flag") for n in flagged} == flagged

    page = new_page()
    sign_in(page, base, "admin@staff.test")
    page.goto(base + reverse("users:job_detail", args=["globex", edit.pk]))
    expect(page.locator("#job-progress")).to_contain_text("Succeeded")
    page.get_by_role("button", name="Revert the whole batch").click()

    expect(page.get_by_role("heading", name="Revert the whole batch?")).to_be_visible()
    expect(page.get_by_text("2 changes will be undone")).to_be_visible()
    assert not Job.objects.filter(kind=Job.Kind.REVERT).exists()
    assert {n: fresh(shop[n]).user_metadata.get("flag") for n in flagged} == flagged

    page.get_by_role("button", name="Revert 2 changes").click()
    progress = page.locator("#job-progress")
    expect(progress).to_contain_text("Succeeded")
    revert = Job.objects.get(kind=Job.Kind.REVERT)
    assert revert.status == Job.Status.SUCCEEDED
    assert page.url == base + reverse("users:job_detail", args=["globex", revert.pk])
    assert fresh(shop["grace"]).user_metadata == {"theme": "dark", "hobby": "chess"}
    assert fresh(shop["ada"]).user_metadata == {"theme": "dark"}


def test_an_edit_survives_a_session_that_expired_during_the_save(
    new_page: NewPage, live_server: Any, shop: dict[str, Any]
) -> None:
    base, grace = live_server.url, shop["grace"]
    page = new_page()
    sign_in(page, base, "admin@staff.test")
    page.goto(user_url(base, grace))
    before = fresh(grace)
    typed = json.dumps({"theme": "dark", "hobby": "chess", "typed": "while signed out"}, indent=2)
    textarea = editor(page, "user_metadata").get_by_label("user_metadata as JSON")
    textarea.fill(typed)

    page.context.clear_cookies(name="sessionid")  # the session expires
    editor(page, "user_metadata").get_by_role("button", name="Save user_metadata").click()

    expect(page).to_have_url(re.compile(r"/accounts/login/\?"))
    query = parse_qs(urlsplit(page.url).query)
    assert query["next"] == [reverse("users:user_detail", args=["globex", grace.user_id])]
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    assert fresh(grace).version == before.version
    fill_sign_in(page, "admin@staff.test")

    expect(page).to_have_url(user_url(base, grace))
    resumed = editor(page, "user_metadata")
    expect(resumed).to_contain_text("Your session expired while you were saving")
    expect(resumed.get_by_label("user_metadata as JSON")).to_have_value(typed)
    current = fresh(grace)
    assert (current.version, current.user_metadata) == (before.version, before.user_metadata)

    resumed.get_by_role("button", name="Save user_metadata").click()
    expect(editor(page, "user_metadata")).to_contain_text("Saved.")
    assert fresh(grace).user_metadata == json.loads(typed)

    # Offered back once only: a reload shows the stored document, not the notice.
    page.reload()
    expect(editor(page, "user_metadata")).not_to_contain_text("Your session expired")
