"""The one write path: outcomes in the database and exactly one audit event per change."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.hashers import check_password

from tests.factories import TenantFactory, UserFactory
from tests.helpers import events
from users import metadata, services
from users.audit import Actor, Context
from users.models import ActorKind, Channel, Connection, Identity, Strategy, Tenant, User

pytestmark = pytest.mark.django_db


def _snapshot(user: User) -> dict[str, Any]:
    user.refresh_from_db()
    return {**user.profile(), "version": user.version, "password": user.password}


# --- create -------------------------------------------------------------------------------


def test_create_generates_user_id_identity_and_one_event(tenant: Tenant, ctx: Context) -> None:
    before = len(events(tenant))
    user = services.user_create(
        tenant=tenant,
        body={"email": "Grace@Example.COM", "password": "a long password", "name": "Grace"},
        by=ctx,
    )
    user.refresh_from_db()
    assert re.fullmatch(r"auth0\|[0-9a-f]{24}", user.user_id)
    assert user.email == "grace@example.com"  # database connections store emails lower-cased
    assert user.version == 1
    assert check_password("a long password", user.password)
    identity = Identity.objects.get(user=user)
    assert (identity.provider, identity.provider_user_id) == ("auth0", user.user_id[6:])
    created = events(tenant)[before:]
    assert [event.action for event in created] == ["user.create"]
    assert created[0].target_user_id == user.user_id
    assert created[0].details == {
        "connection": "Username-Password-Authentication",
        "password_changed": True,
    }
    assert {"op": "add", "path": "/email", "value": "grace@example.com"} in created[0].forward_patch
    # The password hash never reaches the audit log.
    assert "password" not in str(created[0].forward_patch)


def test_create_keeps_a_given_user_id_and_prefixes_a_bare_one(tenant: Tenant, ctx: Context) -> None:
    full = services.user_create(
        tenant=tenant, body={"email": "a@x.test", "user_id": "legacy|42"}, by=ctx
    )
    bare = services.user_create(
        tenant=tenant, body={"email": "b@x.test", "user_id": "abc123"}, by=ctx
    )
    assert full.user_id == "legacy|42"
    assert bare.user_id == "auth0|abc123"


@pytest.mark.parametrize("email", ["ada@example.com", "ADA@EXAMPLE.COM", "Ada@example.com"])
def test_second_user_with_same_email_on_connection_is_refused(
    user: User, ctx: Context, email: str
) -> None:
    count, event_count = User.objects.count(), len(events(user.tenant))
    with pytest.raises(services.UserExists, match="already exists"):
        services.user_create(tenant=user.tenant, body={"email": email}, by=ctx)
    assert (User.objects.count(), len(events(user.tenant))) == (count, event_count)


def test_same_email_is_fine_on_another_connection_and_tenant(user: User, ctx: Context) -> None:
    Connection.objects.create(tenant=user.tenant, name="google-oauth2", strategy=Strategy.SOCIAL)
    other = services.user_create(
        tenant=user.tenant, body={"email": "ada@example.com", "connection": "google-oauth2"}, by=ctx
    )
    assert other.user_id.startswith("google-oauth2|")
    elsewhere = TenantFactory.create(slug="elsewhere")
    assert services.user_create(tenant=elsewhere, body={"email": "ada@example.com"}, by=ctx).pk


def test_duplicate_user_id_is_refused(user: User, ctx: Context) -> None:
    with pytest.raises(services.UserExists, match="user_id"):
        services.user_create(
            tenant=user.tenant, body={"email": "n@x.test", "user_id": user.user_id}, by=ctx
        )


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            {"email": "x@y.test", "connection": "nope"},
            services.ServiceError,
            "connection 'nope' does not exist",
        ),
        ({"name": "No Email"}, services.ServiceError, "email is required"),
        ({"email": "not-an-email"}, metadata.InvalidBodyError, "not an email address"),
        (
            {"email": "x@y.test", "user_metadata": {"a.b": 1}},
            metadata.InvalidKeyError,
            "user_metadata.a.b",
        ),
        (
            {"email": "x@y.test", "app_metadata": {"blocked": True}},
            metadata.ReservedKeyError,
            "reserved",
        ),
        ({"email": "x@y.test", "logins_count": 3}, metadata.ReadOnlyPropertyError, "read-only"),
        (
            {"email": "x@y.test", "shoe_size": 44},
            metadata.UnknownPropertyError,
            "Additional properties not allowed: shoe_size",
        ),
        ({"email": "x@y.test", "password": "short"}, metadata.InvalidBodyError, "password must be"),
    ],
)
def test_refused_create_writes_nothing(
    tenant: Tenant, ctx: Context, body: dict[str, Any], error: type[Exception], message: str
) -> None:
    before = User.objects.count(), Identity.objects.count(), len(events(tenant))
    with pytest.raises(error, match=re.escape(message)):
        services.user_create(tenant=tenant, body=body, by=ctx)
    assert (User.objects.count(), Identity.objects.count(), len(events(tenant))) == before


# --- update -------------------------------------------------------------------------------


def test_merge_follows_the_spec_worked_example_and_records_one_event(
    user: User, ctx: Context
) -> None:
    before = len(events(user.tenant))
    services.user_update(
        user=user, body={"user_metadata": {"addresses": {"work": "100 Industrial"}}}, by=ctx
    )
    user.refresh_from_db()
    assert user.user_metadata == {"hobby": "surfing", "addresses": {"work": "100 Industrial"}}
    assert user.version == 2
    new = events(user.tenant)[before:]
    assert [event.action for event in new] == ["user.update"]
    assert new[0].forward_patch == [
        {"op": "replace", "path": "/user_metadata/addresses", "value": {"work": "100 Industrial"}}
    ] or new[0].forward_patch == [
        {"op": "remove", "path": "/user_metadata/addresses/home"},
        {"op": "add", "path": "/user_metadata/addresses/work", "value": "100 Industrial"},
    ]
    assert new[0].target_pk == user.pk


def test_null_deletes_a_key_and_empty_object_clears_the_tier(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"hobby": None}}, by=ctx)
    user.refresh_from_db()
    assert user.user_metadata == {"addresses": {"home": "123 Main"}}
    services.user_update(user=user, body={"app_metadata": {}}, by=ctx)
    user.refresh_from_db()
    assert user.app_metadata == {}
    assert [e.action for e in events(user.tenant, target_pk=user.pk)] == [
        "user.create",
        "user.update",
        "user.update",
    ]


def test_replace_mode_replaces_the_tier_whole(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"only": 1}}, by=ctx, mode="replace")
    user.refresh_from_db()
    assert user.user_metadata == {"only": 1}
    assert events(user.tenant)[-1].details == {"mode": "replace"}


def test_root_attributes_replace_stored_values(user: User, ctx: Context) -> None:
    services.user_update(
        user=user, body={"name": "Ada L.", "email_verified": True, "nickname": None}, by=ctx
    )
    user.refresh_from_db()
    assert (user.name, user.email_verified, user.nickname) == ("Ada L.", True, None)


def test_an_update_that_changes_nothing_writes_nothing(user: User, ctx: Context) -> None:
    before = _snapshot(user), len(events(user.tenant))
    services.user_update(user=user, body={"user_metadata": {"hobby": "surfing"}}, by=ctx)
    assert (_snapshot(user), len(events(user.tenant))) == before


def test_stale_expected_version_is_a_conflict_and_changes_nothing(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"user_metadata": {"a": 1}}, by=ctx, expected_version=1)
    before = _snapshot(user), len(events(user.tenant))
    with pytest.raises(services.VersionConflict) as caught:
        services.user_update(
            user=user, body={"user_metadata": {"b": 2}}, by=ctx, expected_version=1
        )
    assert (caught.value.expected, caught.value.current) == (1, 2)
    assert caught.value.status == 412
    assert (_snapshot(user), len(events(user.tenant))) == before


def test_an_email_change_to_a_taken_address_is_refused(user: User, ctx: Context) -> None:
    other = UserFactory.create(tenant=user.tenant, email="grace@example.com")
    before = _snapshot(other)
    with pytest.raises(services.UserExists):
        services.user_update(user=other, body={"email": "ADA@example.com"}, by=ctx)
    assert _snapshot(other) == before


def test_a_user_cannot_move_between_connections(user: User, ctx: Context) -> None:
    Connection.objects.create(tenant=user.tenant, name="other-db", strategy=Strategy.DATABASE)
    with pytest.raises(services.ServiceError, match="cannot move between connections"):
        services.user_update(user=user, body={"connection": "other-db", "name": "x"}, by=ctx)


def test_password_change_is_hashed_and_noted_without_the_value(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"password": "new long password"}, by=ctx)
    user.refresh_from_db()
    assert check_password("new long password", user.password)
    event = events(user.tenant)[-1]
    assert event.details == {"password_changed": True}
    assert "new long password" not in str(event.forward_patch) + str(event.details)


# Every rule of SPEC sections 2-4 and 9, through the service: refused, nothing changes.
REFUSED_UPDATES = [
    pytest.param(
        {"user_metadata": {"a.b": 1}},
        metadata.InvalidKeyError,
        ("user_metadata", "a.b"),
        id="dotted-key",
    ),
    pytest.param(
        {"user_metadata": {"x": {"$set": 1}}},
        metadata.InvalidKeyError,
        ("user_metadata", "x", "$set"),
        id="dollar-key-nested",
    ),
    pytest.param(
        {"user_metadata": {"": 1}}, metadata.InvalidKeyError, ("user_metadata", ""), id="empty-key"
    ),
    pytest.param(
        {"user_metadata": {"l": [{"a.b": 1}]}},
        metadata.InvalidKeyError,
        ("user_metadata", "l", 0, "a.b"),
        id="dotted-key-in-array",
    ),
    pytest.param(
        {"app_metadata": {"user_id": "x"}},
        metadata.ReservedKeyError,
        ("app_metadata", "user_id"),
        id="reserved-app-key",
    ),
    pytest.param(
        {"user_metadata": {"big": "x" * 17000}},
        metadata.SizeLimitError,
        ("user_metadata",),
        id="over-16kb",
    ),
    pytest.param(
        {"user_metadata": {"d": [[[[[[[[[[1]]]]]]]]]]}},
        metadata.DepthLimitError,
        None,
        id="too-deep",
    ),
    pytest.param(
        {"user_metadata": None}, metadata.InvalidBodyError, ("user_metadata",), id="null-tier"
    ),
    pytest.param(
        {"user_metadata": [1]}, metadata.InvalidBodyError, ("user_metadata",), id="array-tier"
    ),
    pytest.param(
        {"favourite_colour": "red"},
        metadata.UnknownPropertyError,
        ("favourite_colour",),
        id="unknown-root",
    ),
    pytest.param(
        {"user_id": "auth0|x"}, metadata.ReadOnlyPropertyError, ("user_id",), id="read-only-root"
    ),
    pytest.param({"blocked": "yes"}, metadata.InvalidBodyError, ("blocked",), id="bad-type"),
    pytest.param(
        {"user_metadata": {"n": float("nan")}},
        metadata.InvalidValueError,
        ("user_metadata", "n"),
        id="nan",
    ),
    pytest.param(
        {"user_metadata": {"s": "a\x00b"}},
        metadata.InvalidValueError,
        ("user_metadata", "s"),
        id="nul-char",
    ),
]


@pytest.mark.parametrize(("body", "error", "path"), REFUSED_UPDATES)
def test_refused_update_changes_no_row_and_records_no_event(
    user: User,
    ctx: Context,
    body: dict[str, Any],
    error: type[Exception],
    path: tuple[Any, ...] | None,
) -> None:
    before = _snapshot(user), len(events(user.tenant))
    with pytest.raises(error) as caught:
        services.user_update(user=user, body=body, by=ctx)
    if path is not None:
        assert caught.value.path == path  # type: ignore[attr-defined]
    assert caught.value.message  # type: ignore[attr-defined]
    assert (_snapshot(user), len(events(user.tenant))) == before


def test_tenant_limits_and_schema_apply(ctx: Context) -> None:
    tenant = TenantFactory.create(
        slug="strict",
        metadata_max_bytes=100,
        user_metadata_schema={"type": "object", "properties": {"age": {"type": "integer"}}},
    )
    user = UserFactory.create(tenant=tenant)
    with pytest.raises(metadata.SizeLimitError, match="the limit is 100 bytes"):
        services.user_update(user=user, body={"user_metadata": {"a": "x" * 120}}, by=ctx)
    with pytest.raises(metadata.SchemaViolationError) as caught:
        services.user_update(user=user, body={"user_metadata": {"age": "old"}}, by=ctx)
    assert caught.value.path == ("user_metadata", "age")
    services.user_update(user=user, body={"user_metadata": {"age": 36}}, by=ctx)
    user.refresh_from_db()
    assert user.user_metadata == {"age": 36}


# --- deny list ----------------------------------------------------------------------------


@pytest.fixture
def deny_tenant() -> Tenant:
    return TenantFactory.create(
        slug="deny", deny_list=["family_name", "user_metadata.ssn", "app_metadata.secret.pin"]
    )


@pytest.mark.parametrize("channel", [Channel.CONSOLE, Channel.API, Channel.ADMIN, Channel.CLI])
def test_explicit_write_of_denied_attribute_is_refused(deny_tenant: Tenant, channel: str) -> None:
    by = Context(actor=Actor(ActorKind.STAFF, "1", "op"), channel=channel)
    user = UserFactory.create(tenant=deny_tenant)
    before = _snapshot(user)
    with pytest.raises(
        metadata.DeniedAttributeError, match=r"user_metadata\.ssn is on this tenant's deny list"
    ):
        services.user_update(user=user, body={"user_metadata": {"ssn": "078-05-1120"}}, by=by)
    with pytest.raises(metadata.DeniedAttributeError, match="family_name"):
        services.user_update(user=user, body={"family_name": "Lovelace"}, by=by)
    assert _snapshot(user) == before


@pytest.mark.parametrize("channel", [Channel.IMPORT, Channel.RULE])
def test_profile_data_from_import_and_rules_is_stripped_and_noted(
    deny_tenant: Tenant, channel: str
) -> None:
    by = Context(actor=Actor(ActorKind.IMPORT, "", "job"), channel=channel)
    user = services.user_create(
        tenant=deny_tenant,
        body={
            "email": "s@x.test",
            "family_name": "Hidden",
            "user_metadata": {"ssn": "078-05-1120", "colour": "blue"},
            "app_metadata": {"secret": {"pin": 1234, "hint": "h"}},
        },
        by=by,
    )
    user.refresh_from_db()
    assert user.family_name is None
    assert user.user_metadata == {"colour": "blue"}
    assert user.app_metadata == {"secret": {"hint": "h"}}
    assert events(deny_tenant)[-1].details["dropped"] == [
        "app_metadata.secret.pin",
        "family_name",
        "user_metadata.ssn",
    ]


def test_signup_strips_denied_metadata(deny_tenant: Tenant) -> None:
    by = Context(actor=Actor(ActorKind.END_USER, "", "self"), channel=Channel.SIGNUP)
    user = services.user_create(
        tenant=deny_tenant,
        body={"email": "e@x.test", "user_metadata": {"ssn": "1", "a": "b"}},
        by=by,
    )
    user.refresh_from_db()
    assert user.user_metadata == {"a": "b"}


# --- the end user never writes app_metadata -------------------------------------------------


@pytest.mark.parametrize(
    "by",
    [
        Context(actor=Actor(ActorKind.END_USER, "auth0|1", "self"), channel=Channel.PROFILE),
        Context(actor=Actor(ActorKind.END_USER, "auth0|1", "self"), channel=Channel.API),
        Context(actor=Actor(ActorKind.STAFF, "1", "op"), channel=Channel.SIGNUP),
    ],
    ids=["profile", "end-user-on-api", "signup-channel"],
)
def test_end_user_can_never_write_app_metadata(user: User, by: Context) -> None:
    before = _snapshot(user), len(events(user.tenant))
    with pytest.raises(
        services.NotWritable, match="app_metadata can never be changed by the end user"
    ):
        services.user_update(user=user, body={"app_metadata": {"plan": "enterprise"}}, by=by)
    with pytest.raises(services.NotWritable):
        services.user_update(user=user, body={"app_metadata": {}}, by=by)
    with pytest.raises(services.NotWritable):
        services.user_create(
            tenant=user.tenant,
            body={"email": "z@x.test", "app_metadata": {"roles": ["admin"]}},
            by=by,
        )
    assert (_snapshot(user), len(events(user.tenant))) == before


def test_end_user_may_write_user_metadata(user: User) -> None:
    by = Context(actor=Actor(ActorKind.END_USER, user.user_id, "self"), channel=Channel.PROFILE)
    services.user_update(user=user, body={"user_metadata": {"theme": "dark"}}, by=by)
    user.refresh_from_db()
    assert user.user_metadata["theme"] == "dark"
    assert (events(user.tenant)[-1].actor_kind, events(user.tenant)[-1].channel) == (
        "end_user",
        "profile",
    )


# --- delete key, block, delete ------------------------------------------------------------


def test_delete_one_key(user: User, ctx: Context) -> None:
    services.user_delete_metadata_key(user=user, tier="app_metadata", key="roles", by=ctx)
    user.refresh_from_db()
    assert user.app_metadata == {"plan": "pro"}
    with pytest.raises(metadata.MissingKeyError, match="has no key 'roles'"):
        services.user_delete_metadata_key(user=user, tier="app_metadata", key="roles", by=ctx)
    with pytest.raises(services.ServiceError, match="not a metadata tier"):
        services.user_delete_metadata_key(user=user, tier="metadata", key="roles", by=ctx)


def test_block_and_unblock_are_audited_with_their_own_actions(user: User, ctx: Context) -> None:
    services.user_set_blocked(user=user, blocked=True, by=ctx)
    user.refresh_from_db()
    assert user.blocked
    services.user_set_blocked(user=user, blocked=False, by=ctx)
    user.refresh_from_db()
    assert not user.blocked
    assert [e.action for e in events(user.tenant, target_pk=user.pk)][-2:] == [
        "user.block",
        "user.unblock",
    ]


def test_delete_removes_the_user_and_keeps_the_trail(user: User, ctx: Context) -> None:
    pk, user_id = user.pk, user.user_id
    services.user_delete(user=user, by=ctx)
    assert not User.objects.filter(pk=pk).exists()
    assert not Identity.objects.filter(user_id=pk).exists()
    trail = events(user.tenant, target_pk=pk)
    assert [e.action for e in trail] == ["user.create", "user.delete"]
    assert trail[-1].target_user_id == user_id
    with pytest.raises(services.UserNotFound):
        services.user_update(user=user, body={"name": "ghost"}, by=ctx)


def test_delete_with_stale_version_is_refused(user: User, ctx: Context) -> None:
    services.user_update(user=user, body={"name": "x"}, by=ctx)
    with pytest.raises(services.VersionConflict):
        services.user_delete(user=user, by=ctx, expected_version=1)
    assert User.objects.filter(pk=user.pk).exists()


# --- bulk ---------------------------------------------------------------------------------


def test_bulk_create_records_one_event_per_batch(tenant: Tenant, ctx: Context) -> None:
    before = len(events(tenant))
    users = services.user_bulk_create(
        tenant=tenant,
        bodies=[{"email": f"bulk{i}@x.test", "user_metadata": {"i": i}} for i in range(30)],
        by=ctx,
    )
    assert len(users) == 30 == User.objects.filter(tenant=tenant).count()
    assert Identity.objects.filter(user__tenant=tenant).count() == 30
    new = events(tenant)[before:]
    assert [e.action for e in new] == ["user.bulk_create"]
    assert new[0].details["count"] == 30
    assert new[0].batch_id is not None


def test_bulk_create_refuses_the_whole_batch_on_one_bad_row(tenant: Tenant, ctx: Context) -> None:
    bodies: list[dict[str, Any]] = [{"email": f"ok{i}@x.test"} for i in range(5)]
    bodies.append({"email": "bad@x.test", "user_metadata": {"a.b": 1}})
    with pytest.raises(metadata.InvalidKeyError, match="Row 5") as caught:
        services.user_bulk_create(tenant=tenant, bodies=bodies, by=ctx)
    assert caught.value.path == (5, "user_metadata", "a.b")
    with pytest.raises(services.UserExists):
        services.user_bulk_create(
            tenant=tenant, bodies=[{"email": "d@x.test"}, {"email": "D@x.test"}], by=ctx
        )
    assert User.objects.filter(tenant=tenant).count() == 0
    assert [e.action for e in events(tenant)] == ["tenant.create"]


# --- tenants and staff --------------------------------------------------------------------


def test_new_tenant_has_database_connection_and_one_event(ctx: Context) -> None:
    tenant = services.tenant_create(slug="initech", plan="essentials", by=ctx)
    assert list(tenant.connections.values_list("name", "strategy")) == [
        ("Username-Password-Authentication", "database")
    ]
    assert [e.action for e in events(tenant)] == ["tenant.create"]
    assert tenant.allows_app_metadata_search


def test_plan_change_is_audited_and_gates_follow(tenant: Tenant, ctx: Context) -> None:
    assert not tenant.allows_app_metadata_search
    services.tenant_set_plan(tenant=tenant, plan="professional", by=ctx)
    tenant.refresh_from_db()
    assert tenant.allows_app_metadata_search
    assert events(tenant)[-1].forward_patch == [
        {"op": "replace", "path": "/plan", "value": "professional"}
    ]
