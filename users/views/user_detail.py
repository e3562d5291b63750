from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from metadata_admin.middleware import PENDING_POST
from users import audit, metadata, services
from users.access import tenant_view, tier_role, user_for
from users.forms import MetadataForm
from users.models import AuditEvent, Membership, Role, SignIn, User
from users.views.sign_ins import USER_PAGE_LENGTH

HISTORY_LENGTH = 50


def pretty_json(value: Any) -> str:
    """A document as the editor shows it: indented, keys sorted, Unicode as is."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


def editor_context(
    membership: Membership,
    user: User,
    tier: str,
    *,
    form: MetadataForm | None = None,
    preview: list[audit.Change] | None = None,
    conflict: dict[str, Any] | None = None,
    saved: bool = False,
) -> dict[str, Any]:
    """What `users/_metadata_editor.html` shows for one tier."""
    document = getattr(user, tier)
    limit = membership.tenant.metadata_max_bytes
    size = metadata.compact_size(document)
    text = pretty_json(document)
    if form is None:
        form = MetadataForm(
            initial={"document": text, "version": user.version, "base": json.dumps(document)},
            tier=tier,
            tenant=membership.tenant,
        )
    return {
        "membership": membership,
        "tenant": membership.tenant,
        "user": user,
        "tier": tier,
        "text": text,
        # Each key with its value as shown, for "delete this key unless it changed since".
        "keys": [(key, json.dumps({"value": document[key]})) for key in sorted(document)],
        "bytes": size,
        "limit": limit,
        "percent": min(100, round(100 * size / limit)) if limit else 100,
        "can_edit": membership.has_role(tier_role(tier)),
        "needed_role": Role(tier_role(tier)).label,
        "form": form,
        "preview": preview,
        "conflict": conflict,
        "saved": saved,
        # Warn about what is being written (a preview or a refused save), else what is stored.
        "warnings": metadata.access_key_warnings(
            form.cleaned_data["document"]
            if form.is_bound and "document" in getattr(form, "cleaned_data", {})
            else document
        )
        if tier == metadata.USER_METADATA
        else [],
    }


def detail_context(membership: Membership, user: User) -> dict[str, Any]:
    """What `users/user_detail.html` (and its partials) shows of one user."""
    profile = {**user.profile(), "user_id": user.user_id, "created_at": user.created_at.isoformat()}
    history = AuditEvent.objects.filter(tenant=membership.tenant, target_pk=user.pk).order_by(
        "-seq"
    )[:HISTORY_LENGTH]
    return {
        "membership": membership,
        "tenant": membership.tenant,
        "user": user,
        "identities": user.identities.select_related("connection"),
        "editors": [editor_context(membership, user, tier) for tier in metadata.TIERS],
        "raw": pretty_json(profile),
        "size_warning": metadata.profile_size_warning(user.profile()),
        "history": [(event, audit.describe(event)) for event in history],
        "can_revert": membership.has_role(Role.ADMIN),
        "revertible": services.REVERTIBLE_ACTIONS,
        "sign_ins": SignIn.objects.filter(user=user).order_by("-id")[:USER_PAGE_LENGTH],
        "sign_in_locks": services.user_sign_in_locks(user),
    }


@require_GET
@tenant_view()
def user_detail(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str
) -> HttpResponse:
    """One user: profile, identities, an editor per metadata tier, and its history."""
    user = user_for(membership, user_id)
    context = detail_context(membership, user)
    pending = request.session.get(PENDING_POST)
    for index, tier in enumerate(metadata.TIERS):
        url = unquote(
            reverse("users:metadata_edit", args=[membership.tenant.slug, user.user_id, tier])
        )
        if pending and pending.get("path") == url and membership.has_role(tier_role(tier)):
            del request.session[PENDING_POST]
            form = MetadataForm(pending["fields"], tier=tier, tenant=membership.tenant)
            form.is_valid()  # shows what is wrong with it, if anything
            context["editors"][index] = {
                **editor_context(membership, user, tier, form=form),
                "resumed": True,
            }
    return render(request, "users/user_detail.html", context)
