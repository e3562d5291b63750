"""Management API clients of a tenant: create one (its token is shown once), list, revoke."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from metadata_admin.http import AuthenticatedHttpRequest
from users import services
from users.access import tenant_view
from users.audit import Context
from users.forms import ApiClientForm
from users.models import ApiClient, Channel, Membership, Role


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def api_clients(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = ApiClientForm(request.POST or None)
    created = token = None
    if request.method == "POST" and form.is_valid():
        try:
            created, token = services.api_client_create(
                tenant=tenant,
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                by=Context.for_staff(request, channel=Channel.CONSOLE),
                staff_pk=request.user.pk,
            )
        except services.ServiceError as error:
            form.add_error("name", error.message)
        else:
            form = ApiClientForm()
    context = {
        "membership": membership,
        "tenant": tenant,
        "form": form,
        "clients": tenant.api_clients.select_related("created_by"),
        "created": created,
        "token": token,  # shown in this response only; only its hash is stored
        "api_url": request.build_absolute_uri("/api/v2"),
    }
    response = render(
        request, "users/api_clients.html", context, status=400 if form.errors else 200
    )
    response["Cache-Control"] = "no-store"  # the page may hold a token
    return response


@require_POST
@tenant_view(Role.ADMIN)
def api_client_revoke(
    request: AuthenticatedHttpRequest, membership: Membership, client_id: int
) -> HttpResponse:
    client = ApiClient.objects.filter(tenant=membership.tenant, pk=client_id).first()
    if client is None:
        raise Http404("No such API client.")
    services.api_client_revoke(
        client=client, by=Context.for_staff(request, channel=Channel.CONSOLE)
    )
    messages.success(request, f"Revoked {client.name}: its token no longer works.")
    listing = reverse("users:api_clients", args=[membership.tenant.slug])
    if request.htmx:  # posted with htmx for its confirm
        return HttpResponseClientRedirect(listing)
    return redirect(listing)
