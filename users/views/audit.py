"""Undoing a recorded change from the console."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRefresh

from metadata_admin.http import AuthenticatedHttpRequest
from users import services
from users.access import tenant_view
from users.audit import Context
from users.errors import Refusal
from users.models import AuditEvent, Channel, Membership, Role


@require_POST
@tenant_view(Role.ADMIN)
def event_revert(
    request: AuthenticatedHttpRequest, membership: Membership, seq: int
) -> HttpResponse:
    """Apply the inverse of change #seq as a new change; refuse clearly on conflict."""
    event = AuditEvent.objects.filter(tenant=membership.tenant, seq=seq).first()
    if event is None:
        raise Http404("No such change.")
    by = Context.for_staff(request, channel=Channel.CONSOLE)
    try:
        services.audit_revert(event=event, by=by)
    except Refusal as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Reverted change #{seq}.")
    if request.htmx:
        return HttpResponseClientRefresh()
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("users:user_list", args=[membership.tenant.slug])
    return redirect(target)
