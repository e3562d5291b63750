"""Which tenant an end-user request is for: by the Host (the tenant's domain) or by the path
form /tenants/<slug>/; the issuer each form answers as; 404 for neither."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.http import Http404
from django.test import Client, RequestFactory

from tests.factories import TenantFactory
from users import services
from users.audit import Context
from users.auth.tenancy import auth_tenant, issuer, sdk_domain, tenant_by_host
from users.models import Tenant

pytestmark = pytest.mark.django_db

CONFIG = "/.well-known/openid-configuration"


@pytest.fixture(autouse=True)
def _hosts(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "login.acme.test", "login.acme.test:8443", "127.0.0.1"]


@pytest.fixture
def acme(tenant: Tenant, ctx: Context) -> Tenant:
    tenant.domain = "login.acme.test"
    return services.tenant_update(tenant=tenant, changed=["domain"], by=ctx)


def test_by_host(client: Client, acme: Tenant) -> None:
    found = client.get(CONFIG, HTTP_HOST="login.acme.test").json()
    assert found["issuer"] == "https://login.acme.test/"
    with_port = client.get(CONFIG, HTTP_HOST="login.acme.test:8443").json()
    assert with_port["issuer"] == "https://login.acme.test/"  # the domain has no port
    assert tenant_by_host("LOGIN.acme.test") == acme


def test_a_host_that_is_no_tenants_domain_is_404(client: Client, acme: Tenant) -> None:
    response = client.get(CONFIG, HTTP_HOST="127.0.0.1")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert "127.0.0.1 is no tenant's domain" in response.json()["error_description"]


def test_by_path(client: Client, tenant: Tenant) -> None:
    found = client.get(f"/tenants/acme{CONFIG}", HTTP_HOST="127.0.0.1").json()
    assert found["issuer"] == "https://127.0.0.1/tenants/acme/"
    assert client.get(f"/tenants/nope{CONFIG}").status_code == 404
    assert client.get(f"/tenants/nope{CONFIG}").json()["error_description"] == "No tenant 'nope'."


def test_the_issuer_follows_the_form_used(client: Client, acme: Tenant) -> None:
    by_path = client.get(f"/tenants/acme{CONFIG}", HTTP_HOST="login.acme.test").json()
    assert by_path["issuer"] == "https://login.acme.test/tenants/acme/"
    assert by_path["jwks_uri"] == "https://login.acme.test/tenants/acme/.well-known/jwks.json"


def test_issuer_is_https_with_a_trailing_slash(acme: Tenant, paid_tenant: Tenant) -> None:
    request = RequestFactory().get("/", HTTP_HOST="127.0.0.1")
    assert issuer(acme, request) == "https://login.acme.test/"
    assert issuer(paid_tenant, request) == "https://127.0.0.1/tenants/globex/"


def test_auth_tenant(acme: Tenant, paid_tenant: Tenant) -> None:
    request = RequestFactory().get("/", HTTP_HOST="login.acme.test")
    assert auth_tenant(request) == acme
    assert auth_tenant(request, "globex") == paid_tenant
    with pytest.raises(Http404):
        auth_tenant(request, "nope")
    with pytest.raises(Http404):
        auth_tenant(RequestFactory().get("/", HTTP_HOST="127.0.0.1"))


def test_the_sdk_domain(acme: Tenant, paid_tenant: Tenant) -> None:
    assert sdk_domain(acme, "127.0.0.1:8000") == "login.acme.test"
    assert sdk_domain(paid_tenant, "127.0.0.1:8000") == "127.0.0.1:8000/tenants/globex"


@pytest.mark.parametrize(
    "bad",
    [
        "https://login.acme.test",
        "login.acme.test/path",
        "-login.acme.test",
        "login..acme.test",
        "login_acme.test",
        "login.acme.test:0",
        "login.acme.test:70000",
        "a" * 64 + ".test",
        "login acme.test",
    ],
)
def test_domains_are_validated(tenant: Tenant, ctx: Context, bad: str) -> None:
    tenant.domain = bad
    with pytest.raises(ValidationError, match="not a host name"):
        services.tenant_update(tenant=tenant, changed=["domain"], by=ctx)
    assert Tenant.objects.get(pk=tenant.pk).domain == ""


def test_domains_are_lower_case_and_unique(acme: Tenant, ctx: Context) -> None:
    other = TenantFactory.create(slug="other")
    other.domain = "LOGIN.acme.test"
    with pytest.raises(ValidationError, match="Another tenant already has this domain"):
        services.tenant_update(tenant=other, changed=["domain"], by=ctx)
    other.domain = "Auth.Other.test:8443"
    services.tenant_update(tenant=other, changed=["domain"], by=ctx)
    assert Tenant.objects.get(pk=other.pk).domain == "auth.other.test:8443"
    TenantFactory.create(slug="third")  # many tenants without a domain
    TenantFactory.create(slug="fourth")
    assert Tenant.objects.filter(domain="").count() == 2


def test_the_console_keeps_its_urls(client: Client, acme: Tenant) -> None:
    assert client.get("/", HTTP_HOST="login.acme.test").status_code == 302  # sign in
    assert client.get("/api/v2/users", HTTP_HOST="login.acme.test").status_code == 401
