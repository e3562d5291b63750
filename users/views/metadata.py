"""Editing a user's metadata tiers from the console, through the write path."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from metadata_admin.http import AuthenticatedHttpRequest
from metadata_admin.middleware import keeps_post_over_sign_in
from users import audit, metadata, services
from users.access import require_role, tenant_view, tier_role, user_for
from users.audit import Context
from users.errors import Refusal
from users.forms import DeleteKeyForm, MetadataForm
from users.models import Channel, Membership, User
from users.views.user_detail import detail_context, editor_context, pretty_json

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


def _user_page(tenant: str, user_id: str, tier: str) -> str:
    return reverse("users:user_detail", args=[tenant, user_id])


@keeps_post_over_sign_in(return_to=_user_page)
@require_POST
@tenant_view()
def metadata_edit(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str, tier: str
) -> HttpResponse:
    """Preview or save a tier's edit (saved as the changes made, see
    `services.user_update_tier_keys`). An edit whose save met an expired session is offered
    back on the user's page after signing in again."""
    user = _editable(request, membership, user_id, tier)
    form = MetadataForm(request.POST, tier=tier, tenant=membership.tenant)
    if not form.is_valid():
        return _respond(request, user, editor_context(membership, user, tier, form=form))
    document = form.cleaned_data["document"]
    version = form.cleaned_data["version"]
    if request.POST.get("intent") == "preview":
        current = getattr(user, tier)
        base = form.cleaned_data.get("base")
        changes = metadata.first_level_changes(base, document) if base is not None else None
        merged = (
            document
            if changes is None
            else (metadata.merge_tier(current, changes) if changes else current)
        )
        before, after = {tier: current}, {tier: merged}
        forward, inverse = audit.make_patches(before, after)
        preview = audit.describe_patches(forward, inverse)
        return _respond(
            request, user, editor_context(membership, user, tier, form=form, preview=preview)
        )
    base = form.cleaned_data.get("base")
    ctx = Context.for_staff(request, channel=Channel.CONSOLE)
    try:
        if base is None:  # a client that sent no base: replace, if the version still holds
            saved = services.user_update(
                user=user, body={tier: document}, by=ctx, mode="replace", expected_version=version
            )
        else:
            saved = services.user_update_tier_keys(
                user=user, tier=tier, shown=base, edited=document, by=ctx
            )
    except services.VersionConflict:
        user.refresh_from_db()
        return _conflict(request, membership, user, tier, document, clashes=None)
    except services.KeyConflict as conflict:
        user.refresh_from_db()
        assert base is not None
        mine = metadata.merge_tier(
            getattr(user, tier), metadata.first_level_changes(base, document)
        )
        return _conflict(request, membership, user, tier, mine, clashes=conflict.clashes)
    except Refusal as error:
        form.add_error("document", error.message)
        return _respond(request, user, editor_context(membership, user, tier, form=form))
    if not request.htmx:
        messages.success(request, f"Saved {tier}.")
    return _saved(request, membership, saved, tier)


def _saved(
    request: AuthenticatedHttpRequest, membership: Membership, user: User, tier: str
) -> HttpResponse:
    """After a save: the editor, and (htmx) the profile, account actions and history the
    save changed, swapped out of band so the page is current without a reload."""
    editor = editor_context(membership, user, tier, saved=True)
    response = _respond(request, user, editor)
    if request.htmx:
        context = {**detail_context(membership, user), "oob": True}
        for part in ("profile-card", "account-card", "history-card"):
            response.write(render_to_string(f"users/user_detail.html#{part}", context, request))
    return response


def _conflict(
    request: AuthenticatedHttpRequest,
    membership: Membership,
    user: User,
    tier: str,
    mine: dict[str, Any],
    *,
    clashes: list[services.KeyClash] | None,
) -> HttpResponse:
    """Nothing was saved: show what clashed (per key when known) and a form that applies the
    operator's version on top of the current one if they save it again."""
    conflict = {
        "theirs": pretty_json(getattr(user, tier)),
        "mine": pretty_json(mine),
        "version": user.version,
        "clashes": [
            {
                "key": clash.key,
                "theirs": "(removed)" if clash.theirs is None else pretty_json(clash.theirs),
                "mine": "(removed)" if clash.mine is None else pretty_json(clash.mine),
            }
            for clash in clashes or []
        ],
    }
    retry = MetadataForm(
        initial={
            "document": conflict["mine"],
            "version": user.version,
            "base": json.dumps(getattr(user, tier)),
        },
        tier=tier,
        tenant=membership.tenant,
    )
    return _respond(
        request, user, editor_context(membership, user, tier, form=retry, conflict=conflict)
    )


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
        key, shown = form.cleaned_data["key"], form.cleaned_data["shown"]
        ctx = Context.for_staff(request, channel=Channel.CONSOLE)
        try:
            if shown is None:
                user = services.user_delete_metadata_key(
                    user=user,
                    tier=tier,
                    key=key,
                    by=ctx,
                    expected_version=form.cleaned_data["version"],
                )
            elif key not in getattr(user, tier):
                error = f"{tier}.{key} was already removed by someone else."
            else:  # remove the key unless someone changed it since the page showed it
                user = services.user_update_tier_keys(
                    user=user, tier=tier, shown={key: shown.get("value")}, edited={}, by=ctx
                )
        except Refusal as refused:  # VersionConflict, KeyConflict, a missing key
            error = refused.message
    else:
        error = " ".join(str(e) for e in form.non_field_errors()) or "Choose a key to delete."
    user.refresh_from_db()
    context = editor_context(membership, user, tier, saved=error is None)
    context["error"] = error
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect(reverse("users:user_detail", args=[membership.tenant.slug, user.user_id]))
    return render(request, EDITOR, {"editor": context})
