"""Applications through the write path: created with a secret shown once (only its hash
kept), changed, secret rotated, deleted; refusals change nothing; every change audited
without a secret; and `manage.py create_application`'s last line."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.helpers import events
from users import services
from users.audit import Context
from users.models import Application, AuditEvent, GrantType, Tenant

pytestmark = pytest.mark.django_db

PASSWORD_REALM = "http://auth0.com/oauth/grant-type/password-realm"


def create(tenant: Tenant, ctx: Context, **kwargs: Any) -> tuple[Application, str | None]:
    return services.application_create(tenant=tenant, by=ctx, **{"name": "web", **kwargs})


def no_secret_in(event: AuditEvent, *secrets: str | None) -> None:
    text = json.dumps([event.forward_patch, event.inverse_patch, event.details])
    for secret in secrets:
        assert secret and secret not in text
        assert hashlib.sha256(secret.encode()).hexdigest() not in text


def test_create_keeps_only_the_hash_and_defaults_as_auth0(tenant: Tenant, ctx: Context) -> None:
    app, secret = create(tenant, ctx, callback_urls=["https://shop.example.com/callback"])
    assert secret and len(secret) >= 64
    stored = Application.objects.get(pk=app.pk)
    assert stored.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(stored.__dict__)
    assert stored.grant_types == ["authorization_code", "refresh_token"]  # no password grants
    assert stored.id_token_lifetime == 36_000 and not stored.is_public
    assert len(stored.client_id) == 32 and stored.client_id.replace("-", "").replace("_", "")
    assert services.application_check_secret(stored, secret)
    assert not services.application_check_secret(stored, secret + "x")
    assert not services.application_check_secret(stored, "")
    (event,) = events(tenant, action="application.create")
    no_secret_in(event, secret)
    assert {"op": "add", "path": "/client_id", "value": app.client_id} in event.forward_patch


def test_a_public_application_has_no_secret(tenant: Tenant, ctx: Context) -> None:
    app, secret = create(tenant, ctx, public=True)
    assert secret is None and app.is_public and app.client_secret_hash == ""
    assert not services.application_check_secret(app, "")
    with pytest.raises(services.ServiceError, match="public application"):
        services.application_rotate_secret(application=app, by=ctx)
    assert not events(tenant, action="application.rotate_secret")


def test_client_ids_differ(tenant: Tenant, ctx: Context) -> None:
    first, _ = create(tenant, ctx, name="a")
    second, _ = create(tenant, ctx, name="b")
    assert first.client_id != second.client_id


@pytest.mark.parametrize(
    ("kwargs", "field", "message"),
    [
        ({"callback_urls": ["http://shop.example.com/cb"]}, "callback_urls", "must use https"),
        ({"callback_urls": ["/relative"]}, "callback_urls", "absolute https"),
        ({"callback_urls": ["ftp://x.example.com/"]}, "callback_urls", "absolute https"),
        ({"callback_urls": ["https://a.example.com/#x"]}, "callback_urls", "fragment"),
        ({"callback_urls": ["https://a b.example.com/"]}, "callback_urls", "not a URL"),
        ({"logout_urls": ["javascript:alert(1)"]}, "logout_urls", "absolute https"),
        ({"grant_types": ["implicit"]}, "grant_types", "Unknown grant type(s): implicit"),
        ({"id_token_lifetime": 59}, "id_token_lifetime", "greater than or equal to 60"),
        ({"id_token_lifetime": 2_592_001}, "id_token_lifetime", "less than or equal to"),
        ({"name": "  "}, "name", "Give the application a name"),
    ],
)
def test_refusals_change_nothing(
    tenant: Tenant, ctx: Context, kwargs: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(services.ServiceError, match=re.escape(message)) as refused:
        create(tenant, ctx, **kwargs)
    assert refused.value.path == (field,)
    assert not Application.objects.exists()
    assert not events(tenant, action="application.create")


def test_http_is_allowed_on_localhost_only(tenant: Tenant, ctx: Context) -> None:
    app, _ = create(
        tenant,
        ctx,
        callback_urls=["http://localhost:3000/callback", "http://127.0.0.1/cb"],
        logout_urls=["https://shop.example.com/"],
    )
    assert app.callback_urls == ["http://localhost:3000/callback", "http://127.0.0.1/cb"]


def test_names_are_unique_per_tenant(tenant: Tenant, paid_tenant: Tenant, ctx: Context) -> None:
    create(tenant, ctx)
    with pytest.raises(services.ServiceError, match="already has an application named 'web'"):
        create(tenant, ctx)
    create(paid_tenant, ctx)  # another tenant may use the name
    assert Application.objects.filter(tenant=tenant).count() == 1


def test_update_audits_only_what_changed(tenant: Tenant, ctx: Context) -> None:
    app, secret = create(tenant, ctx)
    services.application_update(
        application=app,
        by=ctx,
        grant_types=[PASSWORD_REALM, "authorization_code"],
        id_token_lifetime=600,
    )
    app.refresh_from_db()
    assert app.grant_types == ["authorization_code", PASSWORD_REALM]  # in GrantType's order
    (event,) = events(tenant, action="application.update")
    assert sorted(op["path"] for op in event.forward_patch) == [
        "/grant_types/1",
        "/id_token_lifetime",
    ]
    no_secret_in(event, secret)
    services.application_update(application=app, by=ctx, id_token_lifetime=600)
    assert len(events(tenant, action="application.update")) == 1  # nothing changed, nothing kept


def test_a_refused_update_changes_nothing(tenant: Tenant, ctx: Context) -> None:
    app, _ = create(tenant, ctx)
    create(tenant, ctx, name="other")
    for kwargs in (
        {"name": "other"},
        {"callback_urls": ["http://evil.example.com/"]},
        {"grant_types": ["client_credentials"]},
        {"id_token_lifetime": 10},
    ):
        with pytest.raises(services.ServiceError):
            services.application_update(application=app, by=ctx, **kwargs)
    stored = Application.objects.get(pk=app.pk)
    assert (stored.name, stored.callback_urls, stored.id_token_lifetime) == ("web", [], 36_000)
    assert not events(tenant, action="application.update")


def test_rotating_the_secret_retires_the_old_one(tenant: Tenant, ctx: Context) -> None:
    app, old = create(tenant, ctx)
    assert old is not None
    rotated, new = services.application_rotate_secret(application=app, by=ctx)
    assert new != old and rotated.secret_rotated_at is not None
    stored = Application.objects.get(pk=app.pk)
    assert services.application_check_secret(stored, new)
    assert not services.application_check_secret(stored, old)
    (event,) = events(tenant, action="application.rotate_secret")
    no_secret_in(event, old, new)


def test_delete_is_audited_with_its_settings(tenant: Tenant, ctx: Context) -> None:
    app, secret = create(tenant, ctx, grant_types=["password"])
    services.application_delete(application=app, by=ctx)
    assert not Application.objects.exists()
    (event,) = events(tenant, action="application.delete")
    no_secret_in(event, secret)
    assert any(op["path"] == "/client_id" for op in event.forward_patch)
    services.application_delete(application=app, by=ctx)  # already gone: nothing recorded
    assert len(events(tenant, action="application.delete")) == 1


def last_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_the_command_prints_one_json_object_last(
    tenant: Tenant, capsys: pytest.CaptureFixture[str]
) -> None:
    call_command(
        "create_application",
        "acme",
        "--name",
        "cli",
        "--grant",
        "password-realm",
        "--grant",
        "refresh_token",
        "--callback",
        "https://shop.example.com/cb",
        "--logout-url",
        "https://shop.example.com/",
    )
    found = last_json(capsys)
    assert set(found) == {"client_id", "client_secret", "domain"}
    app = Application.objects.get(client_id=found["client_id"])
    assert services.application_check_secret(app, found["client_secret"])
    assert app.grant_types == [GrantType.REFRESH_TOKEN, GrantType.PASSWORD_REALM]
    assert app.callback_urls == ["https://shop.example.com/cb"]
    assert found["domain"] == "127.0.0.1:8000/tenants/acme"  # the path form, without a domain


def test_the_command_for_a_public_app_and_a_tenant_with_a_domain(
    tenant: Tenant, ctx: Context, capsys: pytest.CaptureFixture[str]
) -> None:
    tenant.domain = "login.acme.test"
    services.tenant_update(tenant=tenant, changed=["domain"], by=ctx)
    call_command("create_application", "acme", "--name", "spa", "--public")
    found = last_json(capsys)
    assert found["client_secret"] is None and found["domain"] == "login.acme.test"
    call_command(
        "create_application", "acme", "--name", "default-grants", "--host", "auth.local:8443"
    )
    app = Application.objects.get(name="default-grants")
    assert app.grant_types == ["authorization_code", "refresh_token"]


def test_the_command_refuses_clearly(tenant: Tenant) -> None:
    with pytest.raises(CommandError, match="Unknown grant 'implicit'"):
        call_command("create_application", "acme", "--name", "x", "--grant", "implicit")
    with pytest.raises(CommandError, match="must use https"):
        call_command("create_application", "acme", "--name", "x", "--callback", "http://a.b/")
    with pytest.raises(CommandError, match="No tenant"):
        call_command("create_application", "nope", "--name", "x")
    assert not Application.objects.exists()
