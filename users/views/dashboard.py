"""A tenant at a glance: users, sign-ups, connections, metadata keys in use, recent changes."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users import audit, metadata, services
from users.access import tenant_view
from users.models import AuditEvent, Membership, Role, User
from users.search.usage import KEY_SAMPLE, paths_in_use

SIGNUP_DAYS = 90
TOP_KEYS = 10
CHART_WIDTH, CHART_HEIGHT = 720, 160


def signup_chart(counts: dict[object, int], days: int) -> dict[str, object]:
    """Bars for the last `days` days, scaled into the chart's box (server-rendered SVG)."""
    today = timezone.now().date()
    series = [(today - timedelta(days=days - 1 - i)) for i in range(days)]
    peak = max([counts.get(day, 0) for day in series] + [1])
    step = CHART_WIDTH / days
    bars = []
    for index, day in enumerate(series):
        value = counts.get(day, 0)
        height = round(CHART_HEIGHT * value / peak, 1)
        bars.append(
            {
                "x": round(index * step, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(step * 0.8, 1),
                "height": height,
                "day": day,
                "value": value,
            }
        )
    return {
        "bars": bars,
        "peak": peak,
        "total": sum(counts.get(day, 0) for day in series),
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
    }


@require_GET
@tenant_view()
def dashboard(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    users = User.objects.filter(tenant=tenant)
    since = timezone.now() - timedelta(days=SIGNUP_DAYS)
    per_day = (
        users.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by()
    )
    in_use = paths_in_use(tenant)
    recent = AuditEvent.objects.filter(tenant=tenant).order_by("-seq")[:10]
    context = {
        "membership": membership,
        "tenant": tenant,
        "user_count": users.count(),
        "chart": signup_chart({row["day"]: row["n"] for row in per_day}, SIGNUP_DAYS),
        "connections": users.values("connection__name").annotate(n=Count("id")).order_by("-n"),
        "top_user_keys": in_use[metadata.USER_METADATA][:TOP_KEYS],
        "top_app_keys": in_use[metadata.APP_METADATA][:TOP_KEYS],
        "key_sample": KEY_SAMPLE,
        "recent": [(event, audit.describe(event)) for event in recent],
        "can_revert": membership.has_role(Role.ADMIN),
        "revertible": services.REVERTIBLE_ACTIONS,
    }
    return render(request, "users/dashboard.html", context)


@require_GET
@tenant_view()
def tenant_settings(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Plan and limits, read-only for now."""
    tenant = membership.tenant
    context = {
        "membership": membership,
        "tenant": tenant,
        "rules": tenant.metadata_rules(),
        "members": tenant.memberships.select_related("staff").order_by("staff__username"),
    }
    return render(request, "users/tenant_settings.html", context)
