"""The console's applications page: who may use it, create (the secret shown once, after a
redirect), edit, rotate and delete (each asking first), and signing-key rotation (owners)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.helpers import events
from users import services
from users.audit import Context
from users.models import Application, SigningKey, Tenant

pytestmark = pytest.mark.django_db

NEW = {
    "name": "web",
    "callback_urls": "https://shop.example.com/callback\nhttp://localhost:3000/cb",
    "logout_urls": "",
    "grant_types": ["authorization_code", "refresh_token"],
    "id_token_lifetime": "36000",
}


def listing(tenant: Tenant) -> str:
    return reverse("users:applications", args=[tenant.slug])


def detail(tenant: Tenant, app: Application) -> str:
    return reverse("users:application_detail", args=[tenant.slug, app.pk])


@pytest.fixture
def app(tenant: Tenant, ctx: Context) -> Application:
    return services.application_create(tenant=tenant, name="existing", by=ctx)[0]


def shown_secret(html: str) -> str | None:
    found = re.search(r'<pre class="token" id="new-secret">([^<]+)</pre>', html)
    return found[1] if found else None


def test_create_redirects_and_shows_the_secret_once(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    posted = client.post(listing(tenant), NEW)
    created = Application.objects.get(tenant=tenant, name="web")
    assert posted.status_code == 302 and posted["Location"] == detail(tenant, created)
    page = client.get(posted["Location"])
    assert page["Cache-Control"] == "no-store"
    html = page.content.decode()
    secret = shown_secret(html)
    assert secret and "shown only this once" in html
    assert created.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert created.callback_urls == [
        "https://shop.example.com/callback",
        "http://localhost:3000/cb",
    ]
    assert created.client_id in html
    assert '<code id="sdk-domain">testserver/tenants/acme</code>' in html  # the path form
    again = client.get(posted["Location"]).content.decode()
    assert shown_secret(again) is None and secret not in again  # F5 shows it no more
    assert secret not in client.get(listing(tenant)).content.decode()


def test_a_public_application_has_no_secret_to_show(
    client: Client, owner: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(owner)
    posted = client.post(listing(tenant), {**NEW, "public": "on"})
    html = client.get(posted["Location"]).content.decode()
    assert shown_secret(html) is None and "a public application" in html
    assert "Rotate the client secret" not in html


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"callback_urls": "http://shop.example.com/cb"}, "must use https"),
        ({"logout_urls": "shop.example.com"}, "must be an absolute https:// URL"),
        ({"grant_types": ["implicit"]}, "Select a valid choice"),
        ({"id_token_lifetime": "59"}, "greater than or equal to 60"),
        ({"id_token_lifetime": "2592001"}, "less than or equal to 2592000"),
        ({"name": ""}, "This field is required"),
        ({"name": "existing"}, "already has an application named"),
    ],
)
def test_bad_forms_change_nothing(
    client: Client,
    admin_staff: StaffAccount,
    tenant: Tenant,
    app: Application,
    data: dict[str, Any],
    message: str,
) -> None:
    client.force_login(admin_staff)
    response = client.post(listing(tenant), {**NEW, **data})
    assert response.status_code == 400 and message in response.content.decode()
    assert list(Application.objects.values_list("name", flat=True)) == ["existing"]
    assert len(events(tenant, action="application.create")) == 1  # the fixture's


def test_edit_saves_then_redirects(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, app: Application
) -> None:
    client.force_login(admin_staff)
    page = client.get(detail(tenant, app)).content.decode()
    assert 'value="36000"' in page and app.client_id in page
    data = {**NEW, "name": "renamed", "grant_types": ["password"], "id_token_lifetime": "600"}
    posted = client.post(detail(tenant, app), data)
    assert posted.status_code == 302 and posted["Location"] == detail(tenant, app)
    app.refresh_from_db()
    assert (app.name, app.grant_types, app.id_token_lifetime) == ("renamed", ["password"], 600)
    assert len(events(tenant, action="application.update")) == 1
    refused = client.post(detail(tenant, app), {**data, "callback_urls": "http://x.example/"})
    assert refused.status_code == 400 and "must use https" in refused.content.decode()
    app.refresh_from_db()
    assert app.callback_urls == ["https://shop.example.com/callback", "http://localhost:3000/cb"]


def test_rotate_asks_first_then_shows_the_new_secret_once(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, app: Application
) -> None:
    client.force_login(admin_staff)
    url = reverse("users:application_rotate_secret", args=[tenant.slug, app.pk])
    before = Application.objects.get(pk=app.pk).client_secret_hash
    for asked in (client.get(url), client.post(url)):
        assert asked.status_code == 200 and 'name="confirm" value="yes"' in asked.content.decode()
    assert Application.objects.get(pk=app.pk).client_secret_hash == before
    done = client.post(url, {"confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == detail(tenant, app)
    secret = shown_secret(client.get(done["Location"]).content.decode())
    stored = Application.objects.get(pk=app.pk)
    assert secret and services.application_check_secret(stored, secret)
    assert stored.client_secret_hash != before
    assert shown_secret(client.get(done["Location"]).content.decode()) is None
    by_htmx = client.post(url, {"confirm": "yes"}, headers={"HX-Request": "true"})
    assert by_htmx["HX-Redirect"] == detail(tenant, app)
    assert len(events(tenant, action="application.rotate_secret")) == 2


def test_delete_asks_first(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, app: Application
) -> None:
    client.force_login(admin_staff)
    url = reverse("users:application_delete", args=[tenant.slug, app.pk])
    assert "Delete the application existing?" in client.post(url).content.decode()
    assert Application.objects.exists()
    done = client.post(url, {"confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == listing(tenant)
    assert not Application.objects.exists()
    assert client.post(url, {"confirm": "yes"}).status_code == 404
    assert len(events(tenant, action="application.delete")) == 1


def test_another_tenants_application_is_not_found(
    client: Client, admin_staff: StaffAccount, tenant: Tenant, paid_tenant: Tenant, ctx: Context
) -> None:
    theirs, _ = services.application_create(tenant=paid_tenant, name="theirs", by=ctx)
    client.force_login(admin_staff)
    for name in ("application_detail", "application_rotate_secret", "application_delete"):
        url = reverse(f"users:{name}", args=[tenant.slug, theirs.pk])
        assert client.post(url, {"confirm": "yes"}).status_code == 404
    assert Application.objects.filter(pk=theirs.pk).exists()


def test_owners_rotate_the_signing_key(client: Client, owner: StaffAccount, tenant: Tenant) -> None:
    client.force_login(owner)
    page = client.get(listing(tenant)).content.decode()
    assert "Rotate the signing key" in page and "made when it is first needed" in page
    url = reverse("users:signing_key_rotate", args=[tenant.slug])
    assert "Rotate the tenant&#x27;s signing key?" in client.post(url).content.decode()
    assert not SigningKey.objects.exists()
    first = services.signing_key_current(tenant)
    done = client.post(url, {"confirm": "yes"})
    assert done.status_code == 302 and done["Location"] == listing(tenant)
    current = SigningKey.objects.get(tenant=tenant, retired_at__isnull=True)
    page = client.get(listing(tenant)).content.decode()
    assert current.kid in page and first.kid in page and "Previous: verifies only" in page
    (event,) = events(tenant, action="signing_key.rotate")
    assert event.forward_patch == [{"op": "replace", "path": "/kid", "value": current.kid}]


@pytest.mark.parametrize("persona", ["editor", "viewer"])
def test_below_admin_is_forbidden(
    client: Client,
    request: pytest.FixtureRequest,
    tenant: Tenant,
    app: Application,
    persona: str,
) -> None:
    client.force_login(request.getfixturevalue(persona))
    assert_everything_answers(client, tenant, app, 403)


def test_outsiders_get_404(
    client: Client, outsider: StaffAccount, tenant: Tenant, app: Application
) -> None:
    client.force_login(outsider)
    assert_everything_answers(client, tenant, app, 404)


def test_anonymous_is_sent_to_sign_in(client: Client, tenant: Tenant, app: Application) -> None:
    for url in urls(tenant, app):
        for response in (client.get(url), client.post(url, {**NEW, "confirm": "yes"})):
            assert response.status_code == 302
            assert response["Location"].startswith(reverse("login"))
    assert_unchanged(tenant, app)


def test_admins_may_not_rotate_the_signing_key(
    client: Client, admin_staff: StaffAccount, tenant: Tenant
) -> None:
    client.force_login(admin_staff)
    assert "Owners can rotate the signing key" in client.get(listing(tenant)).content.decode()
    url = reverse("users:signing_key_rotate", args=[tenant.slug])
    assert client.post(url, {"confirm": "yes"}).status_code == 403
    assert not SigningKey.objects.exists()


def test_owners_and_admins_may_use_every_page(
    client: Client, request: pytest.FixtureRequest, tenant: Tenant, app: Application
) -> None:
    for persona in ("owner", "admin_staff"):
        client.force_login(request.getfixturevalue(persona))
        for url in [
            *urls(tenant, app)[:2],
            reverse("users:application_rotate_secret", args=[tenant.slug, app.pk]),
            reverse("users:application_delete", args=[tenant.slug, app.pk]),
        ]:
            assert client.get(url).status_code == 200


def urls(tenant: Tenant, app: Application) -> list[str]:
    return [
        listing(tenant),
        detail(tenant, app),
        reverse("users:application_rotate_secret", args=[tenant.slug, app.pk]),
        reverse("users:application_delete", args=[tenant.slug, app.pk]),
        reverse("users:signing_key_rotate", args=[tenant.slug]),
    ]


def assert_everything_answers(
    client: Client, tenant: Tenant, app: Application, status: int
) -> None:
    for url in urls(tenant, app):
        assert client.get(url).status_code == status
        assert client.post(url, {**NEW, "name": "new", "confirm": "yes"}).status_code == status
    assert_unchanged(tenant, app)


def assert_unchanged(tenant: Tenant, app: Application) -> None:
    stored = Application.objects.get(pk=app.pk)
    assert list(Application.objects.values_list("name", flat=True)) == ["existing"]
    assert stored.client_secret_hash == app.client_secret_hash
    assert not SigningKey.objects.exists()
    assert [
        e.action for e in events(tenant) if e.action.startswith(("application", "signing"))
    ] == ["application.create"]


def test_the_audit_log_shows_the_changes_without_secrets(
    client: Client, owner: StaffAccount, tenant: Tenant, app: Application, ctx: Context
) -> None:
    _, secret = services.application_rotate_secret(application=app, by=ctx)
    services.signing_key_rotate(tenant=tenant, by=ctx)
    client.force_login(owner)
    log = client.get(reverse("users:audit_log", args=[tenant.slug]))
    html = log.content.decode()
    assert log.status_code == 200
    assert "application.rotate_secret" in html and "signing_key.rotate" in html
    assert secret not in html
    filtered = client.get(
        reverse("users:audit_log", args=[tenant.slug]), {"action": "application.create"}
    )
    assert filtered.status_code == 200 and "application.create" in filtered.content.decode()
