from __future__ import annotations

from django.http import HttpRequest

from users.models import Membership


def tenant_switcher(request: HttpRequest) -> dict[str, object]:
    """The signed-in staff member's tenants, for the switcher in the header."""
    if not request.user.is_authenticated:
        return {}
    memberships = Membership.objects.filter(staff_id=request.user.pk).select_related("tenant")
    return {"staff_memberships": memberships.order_by("tenant__name")}
