"""Blocking, unblocking and deleting a user from the console (admin and owner)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from metadata_admin.http import AuthenticatedHttpRequest
from users import services
from users.access import tenant_view, user_for
from users.audit import Context
from users.models import Channel, Membership, Role


def _version(request: AuthenticatedHttpRequest) -> int | None:
    raw = request.POST.get("version", "")
    return int(raw) if raw.isdigit() else None


@require_POST
@tenant_view(Role.ADMIN)
def user_block(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str
) -> HttpResponse:
    """Block, or with `blocked=false` unblock, a user."""
    user = user_for(membership, user_id)
    blocked = request.POST.get("blocked", "true") != "false"
    try:
        services.user_set_blocked(
            user=user,
            blocked=blocked,
            by=Context.for_staff(request, channel=Channel.CONSOLE),
            expected_version=_version(request),
        )
    except services.ServiceError as error:
        messages.error(request, error.message)
    else:
        messages.success(
            request, f"{'Blocked' if blocked else 'Unblocked'} {user.email or user.user_id}."
        )
    return redirect(reverse("users:user_detail", args=[membership.tenant.slug, user.user_id]))


@require_POST
@tenant_view(Role.ADMIN)
def user_delete(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str
) -> HttpResponse:
    """Delete a user; the audit trail keeps the profile, so the deletion can be reverted."""
    user = user_for(membership, user_id)
    detail = reverse("users:user_detail", args=[membership.tenant.slug, user.user_id])
    if request.POST.get("confirm") != user.user_id:
        messages.error(request, f"To delete, type the user_id {user.user_id} to confirm.")
        return HttpResponseClientRedirect(detail) if request.htmx else redirect(detail)
    try:
        services.user_delete(
            user=user,
            by=Context.for_staff(request, channel=Channel.CONSOLE),
            expected_version=_version(request),
        )
    except services.ServiceError as error:
        messages.error(request, error.message)
        return HttpResponseClientRedirect(detail) if request.htmx else redirect(detail)
    messages.success(
        request, f"Deleted {user.email or user.user_id}. The audit log can restore it."
    )
    listing = reverse("users:user_list", args=[membership.tenant.slug])
    return HttpResponseClientRedirect(listing) if request.htmx else redirect(listing)
