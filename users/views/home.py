from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users.models import Membership
from users.selectors import tenant_by_slug


@require_GET
def home(request: AuthenticatedHttpRequest) -> HttpResponse:
    """The signed-in staff member's tenants, with their role and plan."""
    memberships = (
        Membership.objects.filter(staff=request.user)
        .select_related("tenant")
        .order_by("tenant__slug")
    )
    return render(request, "users/home.html", {"memberships": memberships})


@require_GET
def tenant_switch(request: AuthenticatedHttpRequest) -> HttpResponse:
    """Go to the chosen tenant's dashboard (membership is checked there)."""
    slug = request.GET.get("tenant", "")
    tenant = tenant_by_slug(slug)
    if tenant is None or not Membership.objects.filter(staff=request.user, tenant=tenant).exists():
        return redirect("users:home")
    return redirect("users:dashboard", tenant=slug)
