"""Which tenant an end-user request is for, and the issuer it answers as.

Auth0's SDKs take a `domain` and call `https://<domain>/oauth/token`, and so on. A tenant is
reached two ways (docs/authentication.md):

- by its domain: the request's Host is the tenant's `domain` (`acme.example.com`), and the
  endpoints are at the root; the issuer is `https://acme.example.com/`;
- by the path form, `HOST/tenants/<slug>` used as the SDK's domain
  (`127.0.0.1:8000/tenants/acme`): no DNS needed, for local use and tests; the issuer is
  `https://HOST/tenants/<slug>/`.

The issuer always has https and a trailing slash, as the SDKs check `iss` against exactly
`https://<domain>/`; it follows the form the request used.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest

from users.models import Tenant
from users.selectors import tenant_by_slug

PATH_PREFIX = "tenants"
# Where `make run` serves: the host of the path form when a command has no request to go by.
LOCAL_HOST = "127.0.0.1:8000"


def auth_tenant(request: HttpRequest, slug: str | None = None) -> Tenant:
    """The tenant of the path form's `slug`, or else the one whose domain is the request's
    host; Http404 when there is none."""
    if slug is not None:
        tenant = tenant_by_slug(slug)
        if tenant is None:
            raise Http404(f"No tenant {slug!r}.")
        return tenant
    host = request.get_host()
    tenant = tenant_by_host(host)
    if tenant is None:
        raise Http404(
            f"{host} is no tenant's domain: set the tenant's domain, or use the path form "
            f"{host}/{PATH_PREFIX}/<slug> as the SDK's domain."
        )
    return tenant


def tenant_by_host(host: str) -> Tenant | None:
    """The tenant whose domain is `host` (exactly, with its port), or else its host name
    without the port."""
    host = host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    found = {tenant.domain: tenant for tenant in Tenant.objects.filter(domain__in={host, name})}
    return found.get(host) or found.get(name)


def used_path_form(request: HttpRequest) -> bool:
    """Whether the request came in by the path form /tenants/<slug>/."""
    match = request.resolver_match
    return match is not None and "slug" in match.kwargs


def issuer(tenant: Tenant, request: HttpRequest) -> str:
    """`https://<domain>/` for a tenant reached by its domain; `https://<request host>/
    tenants/<slug>/` by the path form (or for a tenant without a domain)."""
    return issuer_for_host(tenant, request.get_host(), path_form=used_path_form(request))


def issuer_for_host(tenant: Tenant, host: str, *, path_form: bool = False) -> str:
    """The issuer of `tenant` on the server at `host`: by its domain unless `path_form` (or
    it has none)."""
    if tenant.domain and not path_form:
        return f"https://{tenant.domain}/"
    return f"https://{host}/{PATH_PREFIX}/{tenant.slug}/"


def sdk_domain(tenant: Tenant, host: str) -> str:
    """What an Auth0 SDK's `domain` setting must be to reach `tenant` on the server at
    `host`: the tenant's domain, or else the path form."""
    return tenant.domain or f"{host}/{PATH_PREFIX}/{tenant.slug}"
