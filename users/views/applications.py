"""Applications end users sign in to (Auth0's clients) and the tenant's signing keys: list,
create (the client secret is shown once), edit, rotate the secret, delete; rotate the
signing key (owners). Every POST that changes something redirects, so a reload never sends it
again; a new secret crosses that redirect in the session and is shown by the next page only."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseClientRedirect

from metadata_admin.http import AuthenticatedHttpRequest
from users import services
from users.access import tenant_view
from users.audit import Context
from users.auth.tenancy import issuer_for_host, sdk_domain
from users.forms import ApplicationForm, NewApplicationForm
from users.models import Application, Channel, Membership, Role, SigningKey, Tenant

NEW_SECRET = "application_new_secret"  # session key: {"pk": ..., "secret": ...}, read once


def _context(request: AuthenticatedHttpRequest) -> Context:
    return Context.for_staff(request, channel=Channel.CONSOLE)


def _application(membership: Membership, app_id: int) -> Application:
    application = Application.objects.filter(tenant=membership.tenant, pk=app_id).first()
    if application is None:
        raise Http404("No such application.")
    return application


def _go(request: AuthenticatedHttpRequest, url: str) -> HttpResponse:
    """Leave for `url`; an htmx post (sent for its confirm) leaves the page the same way."""
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


def _refused(form: ApplicationForm, error: services.ServiceError) -> None:
    field = error.path[0] if error.path and str(error.path[0]) in form.fields else None
    form.add_error(str(field) if field else None, error.message)


def _discovery(request: AuthenticatedHttpRequest, tenant: Tenant) -> dict[str, Any]:
    host = request.get_host()
    base = issuer_for_host(tenant, host)
    return {
        "sdk_domain": sdk_domain(tenant, host),
        "issuer": base,
        "jwks_url": base + ".well-known/jwks.json",
        "openid_configuration_url": base + ".well-known/openid-configuration",
    }


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def applications(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    tenant = membership.tenant
    form = NewApplicationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            application, secret = services.application_create(
                tenant=tenant,
                name=data["name"],
                callback_urls=data["callback_urls"],
                logout_urls=data["logout_urls"],
                grant_types=data["grant_types"],
                id_token_lifetime=data["id_token_lifetime"],
                public=data["public"],
                by=_context(request),
            )
        except services.ServiceError as error:
            _refused(form, error)
        else:
            if secret is not None:
                request.session[NEW_SECRET] = {"pk": application.pk, "secret": secret}
            messages.success(request, f"Created the application {application.name}.")
            return redirect(_detail_url(tenant, application))
    keys = list(SigningKey.objects.filter(tenant=tenant).order_by("-pk")[:2])
    context = {
        "membership": membership,
        "tenant": tenant,
        "form": form,
        "applications": tenant.applications.all(),
        "signing_keys": keys,
        "can_rotate_keys": membership.has_role(Role.OWNER),
        **_discovery(request, tenant),
    }
    return render(request, "users/applications.html", context, status=400 if form.errors else 200)


def _detail_url(tenant: Tenant, application: Application) -> str:
    return reverse("users:application_detail", args=[tenant.slug, application.pk])


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def application_detail(
    request: AuthenticatedHttpRequest, membership: Membership, app_id: int
) -> HttpResponse:
    tenant = membership.tenant
    application = _application(membership, app_id)
    initial = {name: getattr(application, name) for name in services.APPLICATION_SETTINGS}
    form = ApplicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.application_update(
                application=application,
                by=_context(request),
                **{name: form.cleaned_data[name] for name in services.APPLICATION_SETTINGS},
            )
        except services.ServiceError as error:
            _refused(form, error)
        else:
            messages.success(request, f"Saved the application {form.cleaned_data['name']}.")
            return redirect(_detail_url(tenant, application))
    shown = request.session.get(NEW_SECRET)
    secret = None
    if request.method == "GET" and shown and shown.get("pk") == application.pk:
        secret = shown["secret"]
        del request.session[NEW_SECRET]  # shown this once
    context = {
        "membership": membership,
        "tenant": tenant,
        "application": application,
        "form": form,
        "secret": secret,
        **_discovery(request, tenant),
    }
    return render(
        request, "users/application_detail.html", context, status=400 if form.errors else 200
    )


def _confirm(
    request: AuthenticatedHttpRequest, membership: Membership, **page: Any
) -> HttpResponse:
    """The page that asks first (a GET, or a POST without `confirm=yes`)."""
    context = {"membership": membership, "tenant": membership.tenant, **page}
    return render(request, "users/confirm.html", context)


def _confirmed(request: AuthenticatedHttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def application_rotate_secret(
    request: AuthenticatedHttpRequest, membership: Membership, app_id: int
) -> HttpResponse:
    application = _application(membership, app_id)
    detail = _detail_url(membership.tenant, application)
    if not _confirmed(request):
        return _confirm(
            request,
            membership,
            title=f"Rotate the client secret of {application.name}?",
            explanation="A new secret is made and shown once; the current one stops working "
            "at once, so every server that uses it needs the new one.",
            action=request.path,
            button="Rotate the secret",
            cancel=detail,
        )
    try:
        _, secret = services.application_rotate_secret(
            application=application, by=_context(request)
        )
    except services.ServiceError as error:
        messages.error(request, error.message)
        return _go(request, detail)
    request.session[NEW_SECRET] = {"pk": application.pk, "secret": secret}
    messages.success(request, f"Rotated the client secret of {application.name}.")
    return _go(request, detail)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def application_delete(
    request: AuthenticatedHttpRequest, membership: Membership, app_id: int
) -> HttpResponse:
    application = _application(membership, app_id)
    listing = reverse("users:applications", args=[membership.tenant.slug])
    if not _confirmed(request):
        return _confirm(
            request,
            membership,
            title=f"Delete the application {application.name}?",
            explanation=f"Its client_id {application.client_id} and its secret stop working "
            "at once. This cannot be undone.",
            action=request.path,
            button="Delete the application",
            cancel=_detail_url(membership.tenant, application),
        )
    services.application_delete(application=application, by=_context(request))
    messages.success(request, f"Deleted the application {application.name}.")
    return _go(request, listing)


@require_http_methods(["GET", "POST"])
@tenant_view(Role.OWNER)
def signing_key_rotate(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    listing = reverse("users:applications", args=[membership.tenant.slug])
    if not _confirmed(request):
        return _confirm(
            request,
            membership,
            title="Rotate the tenant's signing key?",
            explanation="A new key signs tokens from now on. The current key is retired but "
            "still verifies (and stays in the JWKS) until the next rotation, so tokens already "
            "issued keep working until they expire. Rotating twice in a row drops it.",
            action=request.path,
            button="Rotate the signing key",
            cancel=listing,
        )
    key = services.signing_key_rotate(tenant=membership.tenant, by=_context(request))
    messages.success(request, f"Rotated the signing key: the new key is {key.kid}.")
    return _go(request, listing)
