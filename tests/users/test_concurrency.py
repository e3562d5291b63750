"""Concurrent merges to different first-level keys never lose each other (row lock)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, connections

from tests.factories import TenantFactory, UserFactory
from tests.helpers import events, on_postgres
from users import services
from users.audit import Actor, Context, verify_chain
from users.models import User

THREADS = 20


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_twenty_threads_merging_different_keys_lose_none() -> None:
    tenant = TenantFactory.create(slug="race")
    user = UserFactory.create(tenant=tenant, user_metadata={"keep": True})
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def merge(index: int) -> None:
        try:
            by = Context(actor=Actor("staff", str(index), f"op{index}"), channel="console")
            start.wait(timeout=30)
            target = User.objects.get(pk=user.pk)
            services.user_update(user=target, body={"user_metadata": {f"k{index}": index}}, by=by)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=merge, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    user.refresh_from_db()
    assert user.user_metadata == {"keep": True, **{f"k{i}": i for i in range(THREADS)}}
    assert user.version == 1 + THREADS
    assert len(events(tenant, action="user.update")) == THREADS
    assert verify_chain(tenant).ok
    assert connection.vendor == "postgresql"
