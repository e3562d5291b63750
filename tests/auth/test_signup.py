"""POST /dbconnections/signup: Auth0's sign-up, its answer and every error shape, through the
write path (audited as the end user, on the signup channel); and auth0-python's
`Database.signup` against a live server."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import FACTORY_CONTEXT
from tests.helpers import events
from users import services
from users.models import Application, Tenant, User

pytestmark = pytest.mark.django_db

DB = "Username-Password-Authentication"
GOOD_PASSWORD = "Correct-horse-9"


@pytest.fixture
def app(tenant: Tenant) -> Application:
    application, _ = services.application_create(
        tenant=tenant, name="web", by=FACTORY_CONTEXT, public=True
    )
    return application


def sign_up(client: Client, app: Application, **fields: Any) -> Any:
    body = {
        "client_id": app.client_id,
        "connection": DB,
        "email": "new@x.test",
        "password": GOOD_PASSWORD,
        **fields,
    }
    body = {key: value for key, value in body.items() if value is not ...}
    return client.post(
        f"/tenants/{app.tenant.slug}/dbconnections/signup", body, content_type="application/json"
    )


def test_a_sign_up_creates_the_user_with_its_metadata(client: Client, app: Application) -> None:
    response = sign_up(
        client,
        app,
        email="New@X.test",
        given_name="Ada",
        user_metadata={"color": "blue", "plan": "pro"},
        state="opaque",  # unknown top-level keys are ignored, as Auth0 does
        captcha="x",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    user = User.objects.get(tenant=app.tenant, email="new@x.test")
    assert body["user_id"] == user.user_id and body["_id"] == user.user_id.removeprefix("auth0|")
    assert body["email"] == "new@x.test" and body["email_verified"] is False
    assert body["given_name"] == "Ada" and body["user_metadata"] == {"color": "blue", "plan": "pro"}
    assert user.user_metadata == {"color": "blue", "plan": "pro"} and user.app_metadata == {}
    (event,) = events(app.tenant, action="user.create", target_pk=user.pk)
    assert (event.actor_kind, event.actor_id, event.channel) == ("end_user", user.user_id, "signup")


def test_the_password_is_stored_hashed_and_checks(client: Client, app: Application) -> None:
    from django.contrib.auth.hashers import check_password

    sign_up(client, app)
    stored = User.objects.get(email="new@x.test").password
    assert stored and GOOD_PASSWORD not in stored and check_password(GOOD_PASSWORD, stored)


def test_app_metadata_is_never_set_at_sign_up(client: Client, app: Application) -> None:
    response = sign_up(client, app, app_metadata={"plan": "enterprise"})
    assert response.status_code == 400 and "app_metadata" in response.json()["description"]
    assert not User.objects.exists()


@pytest.mark.parametrize(
    ("user_metadata", "text"),
    [
        ({"flag": True}, "invalid user_metadata.flag type (only strings are allowed)"),
        ({"n": 3}, "invalid user_metadata.n type (only strings are allowed)"),
        ("blue", "invalid user_metadata type (expected object)"),
        ({f"k{i}": "v" for i in range(11)}, "invalid user_metadata (too many properties, max 10)"),
        ({"k" * 101: "v"}, "property name too long, max 100"),
        ({"k": "v" * 501}, "value too long, max 500"),
        ({"a.b": "v"}, "a.b"),
    ],
)
def test_bad_sign_up_metadata_is_refused_in_auth0s_words(
    client: Client, app: Application, user_metadata: Any, text: str
) -> None:
    response = sign_up(client, app, user_metadata=user_metadata)
    body = response.json()
    assert response.status_code == 400 and body["statusCode"] == 400
    assert text in body["description"] and body["message"] == body["description"]
    assert set(body) >= {"name", "code", "description", "statusCode", "message"}
    assert not User.objects.exists()


def test_a_weak_password_is_a_password_strength_error(client: Client, app: Application) -> None:
    response = sign_up(client, app, password="short")
    body = response.json()
    assert response.status_code == 400
    assert (body["name"], body["code"], body["statusCode"]) == (
        "PasswordStrengthError",
        "invalid_password",
        400,
    )
    assert body["description"]["verified"] is False
    rules = {rule["code"]: rule for rule in body["description"]["rules"]}
    assert rules["lengthAtLeast"]["format"] == [8] and rules["lengthAtLeast"]["verified"] is False
    assert "At least 8 characters in length" in body["policy"] and body["message"]
    assert not User.objects.exists()


def test_a_duplicate_is_invalid_signup_unless_the_tenant_reveals_it(
    client: Client, app: Application
) -> None:
    assert sign_up(client, app).status_code == 200
    again = sign_up(client, app, email="NEW@x.test").json()
    assert (again["code"], again["description"], again["statusCode"]) == (
        "invalid_signup",
        "Invalid sign up",
        400,
    )
    tenant = app.tenant
    tenant.signup_reveals_existing_user = True
    services.tenant_update(
        tenant=tenant, changed=["signup_reveals_existing_user"], by=FACTORY_CONTEXT
    )
    revealed = sign_up(client, app).json()
    assert (revealed["code"], revealed["description"]) == (
        "user_exists",
        "The user already exists.",
    )
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"client_id": "nope"}, "invalid_client"),
        ({"client_id": ...}, "invalid_body"),
        ({"connection": "nope"}, "invalid_connection"),
        ({"email": ...}, "invalid_body"),
        ({"password": ...}, "invalid_body"),
        ({"email": "not-an-email"}, "invalid_body"),
    ],
)
def test_missing_or_unknown_fields_are_clear(
    client: Client, app: Application, fields: dict[str, Any], code: str
) -> None:
    response = sign_up(client, app, **fields)
    assert response.status_code == 400 and response.json()["code"] == code
    assert not User.objects.exists()


def test_a_tenant_is_found_by_its_domain_too(
    client: Client, app: Application, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "acme.example.com"]
    tenant = app.tenant
    Tenant.objects.filter(pk=tenant.pk).update(domain="acme.example.com")
    body = {
        "client_id": app.client_id,
        "connection": DB,
        "email": "d@x.test",
        "password": GOOD_PASSWORD,
    }
    response = client.post(
        "/dbconnections/signup", body, content_type="application/json", HTTP_HOST="acme.example.com"
    )
    assert response.status_code == 200 and User.objects.filter(email="d@x.test").exists()
    unknown = client.post(
        "/tenants/nope/dbconnections/signup", body, content_type="application/json"
    )
    assert unknown.status_code == 404


def test_the_deny_list_is_stripped_at_sign_up(client: Client, app: Application) -> None:
    tenant = app.tenant
    tenant.deny_list = ["user_metadata.ssn"]
    services.tenant_update(tenant=tenant, changed=["deny_list"], by=FACTORY_CONTEXT)
    response = sign_up(client, app, user_metadata={"ssn": "123", "color": "red"})
    assert response.status_code == 200
    assert User.objects.get(email="new@x.test").user_metadata == {"color": "red"}


def test_auth0_python_signs_up(live_server: Any, app: Application) -> None:
    from auth0.authentication import Database

    domain = live_server.url.removeprefix("http://") + f"/tenants/{app.tenant.slug}"
    database = Database(domain, app.client_id, protocol="http")
    created = database.signup(
        email="sdk@x.test",
        password=GOOD_PASSWORD,
        connection=DB,
        user_metadata={"color": "green"},
    )
    assert created["email"] == "sdk@x.test" and created["user_id"].startswith("auth0|")
    user = User.objects.get(email="sdk@x.test")
    assert user.user_metadata == {"color": "green"}

    from auth0.authentication.exceptions import Auth0Error

    with pytest.raises(Auth0Error) as refused:
        database.signup(email="sdk@x.test", password=GOOD_PASSWORD, connection=DB)
    assert (
        refused.value.error_code == "invalid_signup" and refused.value.message == "Invalid sign up"
    )
