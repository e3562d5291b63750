"""A new password is hashed before the write's transaction opens, never inside it: hashers are
slow on purpose, and on SQLite an open write transaction holds the database's one write lock,
so every other writer waits (and times out) while a password is hashed."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, check_password
from django.db import connection

from tests.api.conftest import make_api
from tests.factories import UserFactory
from users import metadata, services
from users.audit import Context
from users.models import DATABASE_CONNECTION, Tenant, User

pytestmark = pytest.mark.django_db(transaction=True)


class RecordingHasher(MD5PasswordHasher):
    """Django's (quick) MD5 hasher, noting each time it hashes whether a transaction is open
    on this thread's connection. Configured through PASSWORD_HASHERS, as any hasher is."""

    in_transaction: ClassVar[list[bool]] = []

    def encode(self, password: str, salt: str) -> str:
        self.in_transaction.append(connection.in_atomic_block)
        return super().encode(password, salt)


@pytest.fixture
def hashes(settings: Any) -> list[bool]:
    """Whether a transaction was open at each hashing, from now on."""
    settings.PASSWORD_HASHERS = [f"{__name__}.RecordingHasher"]
    RecordingHasher.in_transaction.clear()
    return RecordingHasher.in_transaction


def test_the_api_hashes_a_new_users_password_outside_any_transaction(
    tenant: Tenant, hashes: list[bool]
) -> None:
    api = make_api(tenant)
    response = api.call(
        "POST",
        "/users",
        {"connection": DATABASE_CONNECTION, "email": "new@x.test", "password": "correct horse 1"},
    )
    assert response.status_code == 201, response.content
    assert hashes == [False]
    stored = User.objects.get(user_id=response.json()["user_id"])
    assert check_password("correct horse 1", stored.password)


def test_the_api_hashes_a_changed_password_outside_any_transaction(
    tenant: Tenant, hashes: list[bool]
) -> None:
    user = UserFactory.create(tenant=tenant, email="ada@x.test")
    api = make_api(tenant)
    response = api.call("PATCH", f"/users/{user.user_id}", {"password": "a new long password"})
    assert response.status_code == 200, response.content
    assert hashes == [False]
    user.refresh_from_db()
    assert check_password("a new long password", user.password) and user.version == 2


def test_updating_many_users_hashes_their_passwords_before_the_transaction(
    tenant: Tenant, ctx: Context, hashes: list[bool]
) -> None:
    ada = UserFactory.create(tenant=tenant, email="ada@x.test")
    bob = UserFactory.create(tenant=tenant, email="bob@x.test")
    outcomes = services.users_update_each(
        tenant=tenant,
        items=[(ada, {"password": "ada's new password"}), (bob, {"name": "Bob"})],
        by=ctx,
    )
    assert all(outcome is not None for outcome in outcomes)
    assert hashes == [False]
    ada.refresh_from_db()
    assert check_password("ada's new password", ada.password)


def test_a_refused_body_is_not_hashed(tenant: Tenant, ctx: Context, hashes: list[bool]) -> None:
    """Hashing is slow: a body the rules refuse is refused before its password is hashed."""
    with pytest.raises(services.ServiceError, match="email is required"):
        services.user_create(tenant=tenant, body={"password": "long enough secret"}, by=ctx)
    with pytest.raises(metadata.InvalidBodyError, match="password must be"):
        services.user_create(tenant=tenant, body={"email": "a@x.test", "password": "short"}, by=ctx)
    assert hashes == []
    assert not User.objects.exists()
