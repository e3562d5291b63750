"""Django admin: superusers only; user edits go through the write path (channel `admin`)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User as StaffAccount
from django.test import Client
from django.urls import reverse

from tests.helpers import events
from users.models import AuditEvent, Tenant, User

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client, superuser: StaffAccount) -> Client:
    client.force_login(superuser)
    return client


def _form(user: User, **changes: object) -> dict[str, object]:
    data: dict[str, object] = {
        "email": user.email or "",
        "email_verified": "on" if user.email_verified else "",
        "username": user.username or "",
        "phone_number": "",
        "name": user.name or "",
        "given_name": "",
        "family_name": "",
        "nickname": "",
        "picture": "",
        "user_metadata": json.dumps(user.user_metadata),
        "app_metadata": json.dumps(user.app_metadata),
        "expected_version": user.version,
        "identities-TOTAL_FORMS": "1",
        "identities-INITIAL_FORMS": "1",
        "identities-MIN_NUM_FORMS": "0",
        "identities-MAX_NUM_FORMS": "1000",
        "identities-0-id": str(user.identities.get().pk),
        "identities-0-user": str(user.pk),
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value != ""}


@pytest.mark.parametrize("persona", ["owner", "admin_staff", "editor", "viewer", "outsider"])
def test_admin_is_for_superusers_only(
    client: Client, request: pytest.FixtureRequest, persona: str
) -> None:
    staff = request.getfixturevalue(persona)
    staff.is_staff = True  # even Django's staff flag is not enough
    staff.save()
    client.force_login(staff)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_superuser_sees_the_admin(admin_client: Client, user: User) -> None:
    assert admin_client.get(reverse("admin:users_user_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:users_user_change", args=[user.pk])).status_code == 200


def test_admin_edit_goes_through_the_write_path(
    admin_client: Client, user: User, superuser: StaffAccount
) -> None:
    before = len(events(user.tenant))
    url = reverse("admin:users_user_change", args=[user.pk])
    response = admin_client.post(
        url, _form(user, user_metadata=json.dumps({"theme": "dark"}), name="Ada")
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    user.refresh_from_db()
    assert user.user_metadata == {"theme": "dark"}
    assert user.name == "Ada"
    assert user.version == 2
    new = events(user.tenant)[before:]
    assert [(e.action, e.channel, e.actor_kind, e.actor_label) for e in new] == [
        ("user.update", "admin", "staff", superuser.username)
    ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("user_metadata", json.dumps({"a.b": 1}), "Fields with &quot;.&quot; are not allowed"),
        ("app_metadata", json.dumps({"email": "x"}), "app_metadata.email is reserved"),
        ("user_metadata", json.dumps({"x": "y" * 17000}), "the limit is 16,384 bytes"),
        ("user_metadata", json.dumps([1, 2]), "user_metadata must be an object"),
        ("user_metadata", "{not json", "Enter a valid JSON"),
        ("email", "not-an-email", "not an email address"),
    ],
)
def test_admin_shows_validation_errors_on_the_field_and_saves_nothing(
    admin_client: Client, user: User, field: str, value: str, message: str
) -> None:
    before = user.profile(), len(events(user.tenant))
    url = reverse("admin:users_user_change", args=[user.pk])
    response = admin_client.post(url, _form(user, **{field: value}))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert field in errors, errors
    assert message in response.content.decode()
    user.refresh_from_db()
    assert (user.profile(), len(events(user.tenant))) == before


def test_admin_refuses_a_stale_form(admin_client: Client, user: User) -> None:
    url = reverse("admin:users_user_change", args=[user.pk])
    stale = _form(user, name="Mine")
    assert admin_client.post(url, _form(user, name="Theirs")).status_code == 302
    response = admin_client.post(url, stale)
    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    user.refresh_from_db()
    assert user.name == "Theirs"


def test_admin_add_and_delete_are_audited(admin_client: Client, tenant: Tenant) -> None:
    connection = tenant.connections.get()
    response = admin_client.post(
        reverse("admin:users_user_add"),
        {
            "tenant": tenant.pk,
            "connection": connection.pk,
            "email": "New@Example.com",
            "user_metadata": "{}",
            "app_metadata": json.dumps({"plan": "pro"}),
            "identities-TOTAL_FORMS": "0",
            "identities-INITIAL_FORMS": "0",
            "identities-MIN_NUM_FORMS": "0",
            "identities-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    created = User.objects.get(tenant=tenant, email="new@example.com")
    assert created.app_metadata == {"plan": "pro"}
    assert created.identities.count() == 1
    response = admin_client.post(
        reverse("admin:users_user_delete", args=[created.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=created.pk).exists()
    assert [(e.action, e.channel) for e in events(tenant, target_pk=created.pk)] == [
        ("user.create", "admin"),
        ("user.delete", "admin"),
    ]


def test_admin_bulk_delete_action_is_audited_per_user(admin_client: Client, user: User) -> None:
    response = admin_client.post(
        reverse("admin:users_user_changelist"),
        {"action": "delete_selected", "_selected_action": [user.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not User.objects.filter(pk=user.pk).exists()
    assert events(user.tenant)[-1].action == "user.delete"


def test_audit_events_are_read_only_in_admin(admin_client: Client, user: User) -> None:
    event = AuditEvent.objects.filter(tenant=user.tenant).first()
    assert event is not None
    assert admin_client.get(reverse("admin:users_auditevent_changelist")).status_code == 200
    assert (
        admin_client.get(reverse("admin:users_auditevent_change", args=[event.pk])).status_code
        == 200
    )
    assert admin_client.get(reverse("admin:users_auditevent_add")).status_code == 403
    assert (
        admin_client.post(
            reverse("admin:users_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    response = admin_client.post(
        reverse("admin:users_auditevent_change", args=[event.pk]), {"action": "x"}
    )
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.action == "user.create"


def test_tenant_plan_change_in_admin_is_audited(admin_client: Client, tenant: Tenant) -> None:
    response = admin_client.post(
        reverse("admin:users_tenant_change", args=[tenant.pk]),
        {
            "slug": tenant.slug,
            "name": tenant.name,
            "plan": "enterprise",
            "deny_list": "[]",
            "signup_fields": "[]",
            "metadata_max_bytes": 16384,
            "metadata_max_depth": 10,
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    tenant.refresh_from_db()
    assert tenant.plan == "enterprise"
    assert events(tenant)[-1].action == "tenant.update"
    assert events(tenant)[-1].channel == "admin"
