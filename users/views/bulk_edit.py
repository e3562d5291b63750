"""Bulk edit by query from the console: preview (a dry run with sample diffs), then apply."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, metadata, services
from users.access import tenant_view
from users.audit import Context
from users.forms import BulkEditForm
from users.models import Channel, Membership, Role
from users.search import SearchError, users_matching


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def bulk_edit(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = BulkEditForm(request.POST or None, initial={"q": request.GET.get("q", "")})
    report = None
    samples: list[tuple[object, list[audit.Change]]] = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        dry_run = request.POST.get("intent") != "apply"
        try:
            report = services.users_bulk_edit(
                tenant=tenant,
                users=users_matching(tenant, data["q"]),
                tier=data["tier"],
                key=data["key"],
                value=data.get("parsed_value"),
                remove=data["action"] == "remove",
                by=Context.for_staff(request, channel=Channel.CONSOLE),
                dry_run=dry_run,
            )
        except (SearchError, metadata.MetadataError, services.ServiceError) as error:
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
