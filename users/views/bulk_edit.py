"""Bulk edit by query from the console: a quick preview, then the edit runs as a job."""

from __future__ import annotations

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
from users.models import Channel, Membership, Role
from users.search import users_matching


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def bulk_edit(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = BulkEditForm(request.POST or None, initial={"q": request.GET.get("q", "")})
    report = None
    samples: list[tuple[object, list[audit.Change]]] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        edit = {
            "tier": data["tier"],
            "key": data["key"],
            "value": data.get("parsed_value"),
            "remove": data["action"] == "remove",
        }
        try:
            if request.POST.get("intent") == "apply":
                job = jobs.bulk_edit_job_start(
                    tenant=tenant, staff_pk=request.user.pk, q=data["q"], **edit
                )
                return redirect(reverse("users:job_detail", args=[tenant.slug, job.pk]))
            report = batches.users_bulk_edit_preview(
                tenant=tenant,
                users=users_matching(tenant, data["q"]),
                by=Context.for_staff(request, channel=Channel.CONSOLE),
                **edit,
            )
        except Refusal as error:
            form.add_error(None, error.message)
        else:
            samples = [
                (sample["user_id"], audit.describe(sample["event"]))
                for sample in report.samples
                if sample["event"] is not None
            ]
    context = {
        "membership": membership,
        "tenant": tenant,
        "form": form,
        "report": report,
        "samples": samples,
    }
    return render(request, "users/bulk_edit.html", context)
