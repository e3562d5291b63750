"""Editing a user's metadata tiers from the console, through the write path."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, metadata, services
from users.access import require_role, tenant_view, tier_role, user_for
from users.audit import Context
from users.errors import Refusal
from users.forms import DeleteKeyForm, MetadataForm
from users.models import Channel, Membership, User
from users.views.user_detail import editor_context, pretty_json

EDITOR = "users/_metadata_editor.html"


def _editable(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str, tier: str
) -> User:
    if tier not in metadata.TIERS:
        raise Http404("No such metadata tier.")
    require_role(membership, tier_role(tier))
    return user_for(membership, user_id)


def _respond(request: AuthenticatedHttpRequest, user: User, editor: dict[str, Any]) -> HttpResponse:
    """htmx: the editor fragment. Otherwise: back to the user page once saved, or a page
    with the editor and its messages."""
    if request.htmx:
        return render(request, EDITOR, {"editor": editor})
    if editor["saved"]:
        return redirect(reverse("users:user_detail", args=[user.tenant.slug, user.user_id]))
    context = {
        "editor": editor,
        "tenant": editor["tenant"],
        "membership": editor["membership"],
        "user": user,
    }
    return render(request, "users/metadata_edit.html", context)


@require_POST
@tenant_view()
def metadata_edit(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str, tier: str
) -> HttpResponse:
    """Preview or save a whole tier. A stale version saves nothing and shows both changes."""
    user = _editable(request, membership, user_id, tier)
    form = MetadataForm(request.POST, tier=tier, tenant=membership.tenant)
    if not form.is_valid():
        return _respond(request, user, editor_context(membership, user, tier, form=form))
    document = form.cleaned_data["document"]
    version = form.cleaned_data["version"]
    if request.POST.get("intent") == "preview":
        before, after = {tier: getattr(user, tier)}, {tier: document}
        forward, inverse = audit.make_patches(before, after)
        preview = audit.describe_patches(forward, inverse)
        return _respond(
            request, user, editor_context(membership, user, tier, form=form, preview=preview)
        )
    try:
        saved = services.user_update(
            user=user,
            body={tier: document},
            by=Context.for_staff(request, channel=Channel.CONSOLE),
            mode="replace",
            expected_version=version,
        )
    except services.VersionConflict:
        user.refresh_from_db()
        conflict = {
            "theirs": pretty_json(getattr(user, tier)),
            "mine": pretty_json(document),
            "version": user.version,
        }
        # The form now carries the current version: saving again applies "mine" on top.
        retry = MetadataForm(
            initial={"document": conflict["mine"], "version": user.version},
            tier=tier,
            tenant=membership.tenant,
        )
        return _respond(
            request, user, editor_context(membership, user, tier, form=retry, conflict=conflict)
        )
    except Refusal as error:
        form.add_error("document", error.message)
        return _respond(request, user, editor_context(membership, user, tier, form=form))
    if not request.htmx:
        messages.success(request, f"Saved {tier}.")
    return _respond(request, saved, editor_context(membership, saved, tier, saved=True))


@require_POST
@tenant_view()
def metadata_delete_key(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str, tier: str
) -> HttpResponse:
    """Delete one first-level key of a tier."""
    user = _editable(request, membership, user_id, tier)
    form = DeleteKeyForm(request.POST)
    error = None
    if form.is_valid():
        try:
            user = services.user_delete_metadata_key(
                user=user,
                tier=tier,
                key=form.cleaned_data["key"],
                by=Context.for_staff(request, channel=Channel.CONSOLE),
                expected_version=form.cleaned_data["version"],
            )
        except services.VersionConflict as conflict:
            error = conflict.message
        except Refusal as refused:
            error = refused.message
    else:
        error = "Choose a key to delete."
    user.refresh_from_db()
    context = editor_context(membership, user, tier, saved=error is None)
    context["error"] = error
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("users:user_detail", args=[membership.tenant.slug, user.user_id]))
    return render(request, EDITOR, {"editor": context})
