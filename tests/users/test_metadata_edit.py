"""Editing metadata tiers in the console, and reverting changes from a user's history."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.factories import FACTORY_CONTEXT
from tests.helpers import events
from users import services
from users.models import User

pytestmark = pytest.mark.django_db
HTMX = {"HX-Request": "true"}


def edit_url(user: User, tier: str = "user_metadata") -> str:
    return reverse("users:metadata_edit", args=[user.tenant.slug, user.user_id, tier])


def delete_url(user: User, tier: str = "user_metadata") -> str:
    return reverse("users:metadata_delete_key", args=[user.tenant.slug, user.user_id, tier])


def detail_url(user: User) -> str:
    return reverse("users:user_detail", args=[user.tenant.slug, user.user_id])


def post_doc(
    client: Client,
    user: User,
    doc: object,
    *,
    tier: str = "user_metadata",
    version: int | None = None,
    intent: str = "save",
    htmx: bool = True,
):
    data = {
        "document": doc if isinstance(doc, str) else json.dumps(doc),
        "version": version or user.version,
        "intent": intent,
    }
    return client.post(edit_url(user, tier), data, headers=HTMX if htmx else {})


def test_editor_saves_user_metadata_through_the_write_path(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    response = post_doc(client, user, {"hobby": "chess"})
    assert response.status_code == 200
    fragment = response.content.decode()
    assert fragment.lstrip().startswith("{#") or fragment.lstrip().startswith("<section")
    assert "Saved. This is version 2." in fragment
    user.refresh_from_db()
    assert user.user_metadata == {"hobby": "chess"}
    event = events(user.tenant)[-1]
    assert (event.action, event.channel, event.actor_kind, event.actor_label) == (
        "user.update",
        "console",
        "staff",
        editor.username,
    )
    assert event.details == {"mode": "replace"}


def test_plain_post_redirects_back_to_the_user(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    response = post_doc(client, user, {"a": 1}, htmx=False)
    assert response.status_code == 302
    assert response["Location"] == detail_url(user)


@pytest.mark.parametrize(
    ("persona", "tier", "status"),
    [
        ("viewer", "user_metadata", 403),
        ("viewer", "app_metadata", 403),
        ("editor", "app_metadata", 403),
        ("editor", "user_metadata", 200),
        ("admin_staff", "app_metadata", 200),
        ("owner", "app_metadata", 200),
        ("outsider", "user_metadata", 404),
    ],
)
def test_who_may_edit_which_tier(
    client: Client, request: pytest.FixtureRequest, user: User, persona: str, tier: str, status: int
) -> None:
    client.force_login(request.getfixturevalue(persona))
    before = (user.user_metadata, user.app_metadata)
    response = post_doc(client, user, {"plan": "x"}, tier=tier)
    assert response.status_code == status
    user.refresh_from_db()
    if status != 200:
        assert (user.user_metadata, user.app_metadata) == before


def test_anonymous_and_wrong_method_and_unknown_tier(
    client: Client, editor: StaffAccount, user: User
) -> None:
    assert post_doc(client, user, {}).status_code == 200  # htmx: client redirect to sign in
    assert post_doc(client, user, {})["HX-Redirect"].startswith("/accounts/login/")
    client.force_login(editor)
    assert client.get(edit_url(user)).status_code == 405
    assert post_doc(client, user, {}, tier="metadata").status_code == 404


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            "{not json",
            "This is not valid JSON: Expecting property name enclosed in double quotes "
            "at line 1, column 2.",
        ),
        ('{"a.b": 1}', "Example: user_metadata.a.b"),
        ("[1, 2]", "user_metadata must be an object"),
        (json.dumps({"big": "x" * 17000}), "the limit is 16,384 bytes"),
    ],
)
def test_invalid_documents_are_refused_on_the_field(
    client: Client, editor: StaffAccount, user: User, document: str, message: str
) -> None:
    client.force_login(editor)
    before = user.user_metadata, user.version
    fragment = post_doc(client, user, document).content.decode()
    assert 'aria-invalid="true"' in fragment
    assert message in fragment.replace("&quot;", '"')
    user.refresh_from_db()
    assert (user.user_metadata, user.version) == before


def test_preview_shows_the_diff_and_saves_nothing(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    fragment = post_doc(
        client,
        user,
        {"hobby": "chess", "addresses": {"home": "123 Main"}, "new": 1},
        intent="preview",
    ).content.decode()
    assert "What saving changes" in fragment
    assert (
        "user_metadata.hobby" in fragment
        and "&quot;surfing&quot;</code> → <code>&quot;chess&quot;" in fragment
    )
    assert "user_metadata.new" in fragment and "added" in fragment
    user.refresh_from_db()
    assert user.user_metadata["hobby"] == "surfing"


def test_a_stale_save_shows_both_changes_and_overwrites_nothing(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    shown_version = user.version
    services.user_update(user=user, body={"user_metadata": {"theirs": True}}, by=FACTORY_CONTEXT)
    response = post_doc(client, user, {"mine": True}, version=shown_version)
    fragment = response.content.decode()
    assert "Someone else saved this user meanwhile" in fragment
    assert "&quot;theirs&quot;: true" in fragment and "&quot;mine&quot;: true" in fragment
    user.refresh_from_db()
    assert user.user_metadata["theirs"] is True and "mine" not in user.user_metadata
    # The form now carries their version: saving again applies mine on top, deliberately.
    assert f'value="{user.version}"' in fragment
    post_doc(client, user, {"mine": True}, version=user.version)
    user.refresh_from_db()
    assert user.user_metadata == {"mine": True}


def test_delete_one_key_and_clear_the_tier(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    client.force_login(admin_staff)
    response = client.post(
        delete_url(user, "app_metadata"), {"key": "roles", "version": user.version}, headers=HTMX
    )
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.app_metadata == {"plan": "pro"}
    missing = client.post(
        delete_url(user, "app_metadata"), {"key": "roles", "version": user.version}, headers=HTMX
    )
    assert "has no key &#x27;roles&#x27;" in missing.content.decode()
    stale = client.post(
        delete_url(user, "app_metadata"), {"key": "plan", "version": 1}, headers=HTMX
    )
    assert "changed by someone else" in stale.content.decode()
    user.refresh_from_db()
    assert user.app_metadata == {"plan": "pro"}
    post_doc(client, user, {}, tier="app_metadata")
    user.refresh_from_db()
    assert user.app_metadata == {}


def test_user_page_shows_editors_by_role(
    client: Client, editor: StaffAccount, viewer: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    page = client.get(detail_url(user)).content.decode()
    assert 'id="doc-user_metadata"' in page
    assert 'id="doc-app_metadata"' not in page
    assert "changing app_metadata needs the Admin role; you are Editor" in page
    client.force_login(viewer)
    page = client.get(detail_url(user)).content.decode()
    assert "<textarea" not in page
    assert "Revert" not in page


# --- history and revert -------------------------------------------------------------------


def revert_url(user: User, seq: int) -> str:
    return reverse("users:event_revert", args=[user.tenant.slug, seq])


def test_history_lists_changes_readably(client: Client, viewer: StaffAccount, user: User) -> None:
    services.user_update(user=user, body={"user_metadata": {"hobby": "chess"}}, by=FACTORY_CONTEXT)
    client.force_login(viewer)
    page = client.get(detail_url(user)).content.decode()
    assert "user.update" in page and "user.create" in page
    assert (
        "user_metadata.hobby" in page
        and "&quot;surfing&quot;</code> → <code>&quot;chess&quot;" in page
    )


def test_admin_reverts_a_change(client: Client, admin_staff: StaffAccount, user: User) -> None:
    services.user_update(user=user, body={"user_metadata": {"hobby": "chess"}}, by=FACTORY_CONTEXT)
    change = events(user.tenant)[-1]
    client.force_login(admin_staff)
    response = client.post(revert_url(user, change.seq), {"next": detail_url(user)})
    assert response.status_code == 302 and response["Location"] == detail_url(user)
    user.refresh_from_db()
    assert user.user_metadata["hobby"] == "surfing"
    latest = events(user.tenant)[-1]
    assert (latest.action, latest.channel, latest.details) == (
        "user.revert",
        "console",
        {"reverts": change.seq},
    )
    page = client.get(detail_url(user)).content.decode()
    assert f"Reverted change #{change.seq}." in page


def test_revert_conflict_is_explained_and_changes_nothing(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    services.user_update(user=user, body={"user_metadata": {"hobby": "chess"}}, by=FACTORY_CONTEXT)
    change = events(user.tenant)[-1]
    services.user_update(user=user, body={"user_metadata": {"hobby": "go"}}, by=FACTORY_CONTEXT)
    client.force_login(admin_staff)
    client.post(revert_url(user, change.seq), {"next": detail_url(user)})
    user.refresh_from_db()
    assert user.user_metadata["hobby"] == "go"
    assert "has changed since" in client.get(detail_url(user)).content.decode()


def test_htmx_revert_refreshes_the_page(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    services.user_update(user=user, body={"name": "X"}, by=FACTORY_CONTEXT)
    client.force_login(admin_staff)
    response = client.post(revert_url(user, events(user.tenant)[-1].seq), headers=HTMX)
    assert response["HX-Refresh"] == "true"


@pytest.mark.parametrize(
    ("persona", "status"), [("editor", 403), ("viewer", 403), ("outsider", 404)]
)
def test_only_admins_revert(
    client: Client, request: pytest.FixtureRequest, user: User, persona: str, status: int
) -> None:
    services.user_update(user=user, body={"name": "X"}, by=FACTORY_CONTEXT)
    client.force_login(request.getfixturevalue(persona))
    assert client.post(revert_url(user, events(user.tenant)[-1].seq)).status_code == status
    user.refresh_from_db()
    assert user.name == "X"


def test_revert_refuses_foreign_redirects_and_unknown_events(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    services.user_update(user=user, body={"name": "X"}, by=FACTORY_CONTEXT)
    client.force_login(admin_staff)
    response = client.post(
        revert_url(user, events(user.tenant)[-1].seq), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("users:user_list", args=[user.tenant.slug])
    assert client.post(revert_url(user, 9999)).status_code == 404


def page_form(client: Client, user: User, tier: str) -> dict[str, str]:
    """The editor form of `tier` as the user page shows it (its hidden fields included)."""
    page = client.get(detail_url(user)).content.decode()
    start = page.index(f'id="editor-{tier}"')
    form = page[start : page.index("</form>", start)]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form))
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", form, re.S)
    assert textarea is not None
    fields["document"] = html.unescape(textarea[1])
    return {name: html.unescape(value) for name, value in fields.items()}


def save_edit(
    client: Client, user: User, tier: str, form: dict[str, str], doc: dict[str, Any]
) -> Any:
    data = {**form, "document": json.dumps(doc), "intent": "save"}
    return client.post(edit_url(user, tier), data, headers=HTMX)


def test_saving_one_tier_then_the_other_from_the_same_page_is_no_conflict(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    client.force_login(admin_staff)
    um, am = page_form(client, user, "user_metadata"), page_form(client, user, "app_metadata")
    first = save_edit(client, user, "user_metadata", um, {**user.user_metadata, "a": 1})
    assert "Saved." in first.content.decode()
    second = save_edit(client, user, "app_metadata", am, {**user.app_metadata, "b": 2})
    assert "Saved." in second.content.decode() and "meanwhile" not in second.content.decode()
    user.refresh_from_db()
    assert user.user_metadata["a"] == 1 and user.app_metadata["b"] == 2


def test_a_save_refreshes_the_version_profile_and_history_on_the_page(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    form = page_form(client, user, "user_metadata")
    fragment = save_edit(client, user, "user_metadata", form, {"x": 1}).content.decode()
    assert 'id="history" aria-labelledby="history-heading" hx-swap-oob="true"' in fragment
    assert 'id="profile"' in fragment and "<dt>Version</dt><dd>2</dd>" in fragment
    assert "user_metadata.x" in fragment[fragment.index('id="history"') :]


def test_two_operators_adding_different_keys_both_keep_their_change(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    shown = page_form(client, user, "user_metadata")  # A and B both open the page
    save_edit(client, user, "user_metadata", shown, {**user.user_metadata, "from_a": 1})
    response = save_edit(client, user, "user_metadata", shown, {**user.user_metadata, "from_b": 2})
    assert "Saved." in response.content.decode()
    user.refresh_from_db()
    assert user.user_metadata["from_a"] == 1 and user.user_metadata["from_b"] == 2


def test_a_real_conflict_is_shown_per_key_and_resolved_on_top_of_theirs(
    client: Client, editor: StaffAccount, user: User
) -> None:
    client.force_login(editor)
    shown = page_form(client, user, "user_metadata")
    services.user_update(
        user=user,
        body={"user_metadata": {"hobby": "chess", "theirs": True}},
        by=FACTORY_CONTEXT,
    )
    mine = {**json.loads(shown["document"]), "hobby": "golf", "mine": True}
    response = save_edit(client, user, "user_metadata", shown, mine)
    fragment = response.content.decode()
    assert "Someone else saved this user meanwhile" in fragment
    assert "<code>user_metadata.hobby</code>" in fragment and "&quot;chess&quot;" in fragment
    user.refresh_from_db()
    assert user.user_metadata["hobby"] == "chess" and "mine" not in user.user_metadata
    # The form now holds theirs with my changes; saving it keeps both sides' other keys.
    start = fragment.index("<form")
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', fragment[start:]))
    textarea = re.search(r"<textarea[^>]*>(.*?)</textarea>", fragment, re.S)
    assert textarea is not None
    retry = html.unescape(textarea[1])
    data = {**{k: html.unescape(v) for k, v in form.items()}, "document": retry, "intent": "save"}
    client.post(edit_url(user, "user_metadata"), data, headers=HTMX)
    user.refresh_from_db()
    assert user.user_metadata["hobby"] == "golf"
    assert user.user_metadata["theirs"] is True and user.user_metadata["mine"] is True


def test_deleting_a_key_from_a_stale_page_removes_only_what_was_shown(
    client: Client, admin_staff: StaffAccount, user: User
) -> None:
    client.force_login(admin_staff)
    page = client.get(detail_url(user)).content.decode()
    shown = {
        key: html.unescape(value)
        for key, value in re.findall(
            r'name="key" value="(\w+)"><input type="hidden" name="shown" value="([^"]*)"', page
        )
    }
    services.user_update(user=user, body={"app_metadata": {"x": 1}}, by=FACTORY_CONTEXT)
    ok = client.post(
        delete_url(user, "app_metadata"), {"key": "roles", "shown": shown["roles"]}, headers=HTMX
    )
    assert "changed by someone else" not in ok.content.decode()
    services.user_update(user=user, body={"app_metadata": {"plan": "gold"}}, by=FACTORY_CONTEXT)
    refused = client.post(
        delete_url(user, "app_metadata"), {"key": "plan", "shown": shown["plan"]}, headers=HTMX
    )
    assert "changed app_metadata.plan meanwhile" in refused.content.decode()
    user.refresh_from_db()
    assert user.app_metadata == {"plan": "gold", "x": 1}


@pytest.mark.parametrize("htmx", [True, False])
def test_a_save_after_the_session_expired_keeps_the_edit_over_sign_in(
    client: Client, editor: StaffAccount, user: User, htmx: bool
) -> None:
    client.force_login(editor)
    form = page_form(client, user, "user_metadata")
    client.session.flush()  # the session expires while the operator types
    client.cookies.pop("sessionid", None)
    data = {**form, "document": json.dumps({"typed": "a long careful edit"}), "intent": "save"}
    response = client.post(edit_url(user), data, headers=HTMX if htmx else {})
    target = response["HX-Redirect"] if htmx else response["Location"]
    assert target.startswith(reverse("login")) and "next=" in target
    user.refresh_from_db()
    assert "typed" not in user.user_metadata

    assert parse_qs(urlsplit(target).query)["next"] == [detail_url(user)]
    client.force_login(editor)  # signs in again; the sign-in page sends them to `next`
    page = client.get(detail_url(user)).content.decode()
    assert "Your session expired while you were saving" in page
    assert "a long careful edit" in page
    user.refresh_from_db()
    assert "typed" not in user.user_metadata  # offered back, not saved
    again = client.get(detail_url(user)).content.decode()
    assert "Your session expired" not in again  # offered once
