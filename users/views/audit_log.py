"""The tenant's audit log: filter, read diffs, revert, download as CSV."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta

from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, services
from users.access import tenant_view
from users.exports import csv_line
from users.forms import AuditFilterForm
from users.models import AuditEvent, Membership, Role

PAGE_SIZE = 50
CSV_COLUMNS = [
    "seq",
    "time",
    "actor_kind",
    "actor",
    "channel",
    "action",
    "user_id",
    "changes",
    "request_id",
    "ip",
    "batch_id",
]


def _filtered(membership: Membership, form: AuditFilterForm) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.filter(tenant=membership.tenant).order_by("-seq")
    if not form.is_valid():
        return events.none()
    data = form.cleaned_data
    if data["actor"]:
        events = events.filter(actor_label__icontains=data["actor"])
    if data["action"]:
        events = events.filter(action=data["action"])
    if data["channel"]:
        events = events.filter(channel=data["channel"])
    if data["user"]:
        events = events.filter(target_user_id=data["user"])
    if data["since"]:
        events = events.filter(created_at__gte=datetime.combine(data["since"], time(), UTC))
    if data["until"]:
        end = datetime.combine(data["until"], time(), UTC) + timedelta(days=1)
        events = events.filter(created_at__lt=end)
    return events


def _csv_rows(events: QuerySet[AuditEvent]) -> Iterator[str]:
    yield csv_line(CSV_COLUMNS)
    for event in events.iterator(chunk_size=2000):
        changes = "; ".join(
            f"{change.op} {change.path}"
            + (f" {change.before_json} -> {change.after_json}" if change.op == "replace" else "")
            for change in audit.describe(event)
        )
        row = [
            event.seq,
            event.created_at.isoformat(),
            event.actor_kind,
            event.actor_label,
            event.channel,
            event.action,
            event.target_user_id,
            changes,
            event.request_id,
            event.ip,
            event.batch_id,
        ]
        yield csv_line(row)


@require_GET
@tenant_view()
def audit_log(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponseBase:
    form = AuditFilterForm(request.GET)
    events = _filtered(membership, form)
    if request.GET.get("format") == "csv":
        response = StreamingHttpResponse(_csv_rows(events), content_type="text/csv; charset=utf-8")
        filename = f"audit-{membership.tenant.slug}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    before = request.GET.get("before", "")
    if before.isascii() and before.isdigit() and len(before) <= 18:  # a bigint, not "²" or 10**30
        events = events.filter(seq__lt=int(before))
    page = list(events[: PAGE_SIZE + 1])
    more = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    params = request.GET.copy()
    params.pop("before", None)
    if more:
        params["before"] = str(page[-1].seq)
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "form": form,
        "events": [(event, audit.describe(event)) for event in page],
        "next_query": params.urlencode() if more else None,
        "csv_query": _csv_query(request),
        "can_revert": membership.has_role(Role.ADMIN),
        "revertible": services.REVERTIBLE_ACTIONS,
    }
    template = "users/audit_log.html#audit-table" if request.htmx else "users/audit_log.html"
    return render(request, template, context)


def _csv_query(request: AuthenticatedHttpRequest) -> str:
    params = request.GET.copy()
    params.pop("before", None)
    params["format"] = "csv"
    return params.urlencode()
