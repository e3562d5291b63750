"""Bulk edit by query from the console: a quick preview, then the edit runs as a job."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core import signing
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, batches, jobs
from users.access import tenant_view
from users.audit import Context
from users.errors import Refusal
from users.forms import BulkEditForm
from users.models import Channel, Membership, Role, Tenant
from users.search import users_matching
from users.search.budget import time_budget

PREVIEW_SALT = "users.views.bulk_edit.preview"
PREVIEW_LIFETIME = 3600  # seconds a preview may be applied after it was made


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def bulk_edit(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Preview an edit (counts and sample diffs, writing nothing); then apply exactly what was
    previewed, once the operator confirms the count. Apply never takes the form's fields: it
    takes the signed preview, so widening the query after a preview changes nothing."""
    tenant = membership.tenant
    applying = request.method == "POST" and request.POST.get("intent") == "apply"
    if applying and request.POST.get("previewed"):
        return _apply_previewed(request, membership)
    form = BulkEditForm(request.POST or None, initial={"q": request.GET.get("q", "")})
    context: dict[str, Any] = {"membership": membership, "tenant": tenant, "form": form}
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        edit = {
            "q": data["q"],
            "tier": data["tier"],
            "key": data["key"],
            "value": data.get("parsed_value"),
            "remove": data["action"] == "remove",
        }
        try:
            if request.POST.get("intent") != "apply":
                context.update(_preview(request, tenant, edit))
            else:  # an Apply with no preview: say what is wrong with it, or to preview it
                users_matching(tenant, edit["q"])
                batches.bulk_edit_patch(
                    tenant, edit["tier"], edit["key"], edit["value"], edit["remove"]
                )
                form.add_error(
                    None, "Preview the edit first: Apply runs exactly what was previewed."
                )
        except Refusal as error:
            form.add_error(None, error.message)
    return render(request, "users/bulk_edit.html", context)


def _preview(
    request: AuthenticatedHttpRequest, tenant: Tenant, edit: dict[str, Any]
) -> dict[str, Any]:
    """The preview's report and samples, and the signed edit that Apply runs."""
    with time_budget(settings.SEARCH_TIMEOUT_MS):  # an interactive preview
        report = batches.users_bulk_edit_preview(
            tenant=tenant,
            users=users_matching(tenant, edit["q"]),
            by=Context.for_staff(request, channel=Channel.CONSOLE),
            **{name: value for name, value in edit.items() if name != "q"},
        )
    token = signing.dumps(
        {**edit, "tenant": tenant.slug, "matched": report.matched}, salt=PREVIEW_SALT
    )
    return {
        "report": report,
        "samples": [
            (sample["user_id"], audit.describe(sample["event"]))
            for sample in report.samples
            if sample["event"] is not None
        ],
        "previewed": token,
        "previewed_matched": report.matched,
    }


def _apply_previewed(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Queue the previewed edit, if the operator confirmed its count and it still holds."""
    tenant = membership.tenant
    form = BulkEditForm(initial={"q": request.GET.get("q", "")})
    error = None
    try:
        edit = signing.loads(request.POST["previewed"], salt=PREVIEW_SALT, max_age=PREVIEW_LIFETIME)
    except signing.BadSignature:
        edit = None
        error = "This preview is too old (or not ours); preview the edit again."
    if edit is not None and edit["tenant"] != tenant.slug:
        edit, error = None, "This preview is of another tenant; preview the edit again."
    if edit is not None:
        form = BulkEditForm(initial=_form_values(edit))
        try:
            with time_budget(settings.SEARCH_TIMEOUT_MS):
                matched = users_matching(tenant, edit["q"]).count()
            if matched != edit["matched"]:
                error = (
                    f"{edit['matched']:,} users matched the preview; {matched:,} match now. "
                    "Preview again to see what would change."
                )
            elif request.POST.get("confirm") != str(edit["matched"]):
                error = f"Confirm that you want to change these {edit['matched']:,} users."
            else:
                job = jobs.bulk_edit_job_start(
                    tenant=tenant,
                    staff_pk=request.user.pk,
                    **{k: edit[k] for k in ("q", "tier", "key", "value", "remove")},
                )
                return redirect(reverse("users:job_detail", args=[tenant.slug, job.pk]))
        except Refusal as refused:
            error = refused.message
    context = {
        "membership": membership,
        "tenant": tenant,
        "form": form,
        "apply_error": error,
        "previewed": request.POST["previewed"] if edit is not None else None,
        "previewed_matched": edit["matched"] if edit is not None else None,
    }
    return render(request, "users/bulk_edit.html", context, status=400)


def _form_values(edit: dict[str, Any]) -> dict[str, Any]:
    """The form's fields for a signed edit (shown again beside an error)."""
    return {
        "q": edit["q"],
        "tier": edit["tier"],
        "key": edit["key"],
        "action": "remove" if edit["remove"] else "set",
        "value": "" if edit["remove"] else json.dumps(edit["value"]),
    }
