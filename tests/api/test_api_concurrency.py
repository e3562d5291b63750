"""50 PATCHes at once, from 50 connections, to different first-level keys of one user."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

from tests.api.conftest import ALL_SCOPES
from tests.factories import FACTORY_CONTEXT, TenantFactory, UserFactory
from tests.helpers import events, on_postgres
from users import services
from users.audit import verify_chain
from users.models import User

CLIENTS = 50


class _Server(ThreadedWSGIServer):
    request_queue_size = 128  # the default (5) resets most of 50 simultaneous connections


@pytest.fixture
def server() -> Iterator[str]:
    """The app in a threaded server: each request on its own thread and database connection."""
    httpd = _Server(("127.0.0.1", 0), WSGIRequestHandler)
    httpd.set_app(get_wsgi_application())
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_patches_all_land(server: str, settings: Any) -> None:
    settings.API_RATE_LIMIT_BURST = 1000
    tenant = TenantFactory.create(slug="race")
    user = UserFactory.create(tenant=tenant, user_metadata={"keep": True})
    _, token = services.api_client_create(
        tenant=tenant, name="racer", scopes=ALL_SCOPES, by=FACTORY_CONTEXT
    )
    start = threading.Barrier(CLIENTS)
    statuses: list[int] = []

    def patch(index: int) -> None:
        with httpx.Client(base_url=f"{server}/api/v2", timeout=60) as http:
            start.wait(timeout=60)
            response = http.patch(
                f"/users/{user.user_id}",
                json={"user_metadata": {f"k{index}": index}},
                headers={"Authorization": f"Bearer {token}"},
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=patch, args=(i,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert statuses == [200] * CLIENTS
    stored = User.objects.get(pk=user.pk)
    assert stored.user_metadata == {"keep": True, **{f"k{i}": i for i in range(CLIENTS)}}
    assert stored.version == 1 + CLIENTS
    updates = events(tenant, action="user.update")
    assert len(updates) == CLIENTS and {e.actor for e in updates} == {"api_client:racer"}
    assert verify_chain(tenant).ok


@on_postgres
@pytest.mark.django_db(transaction=True)
def test_the_rate_limit_is_shared_by_every_connection() -> None:
    """Server processes share buckets through the database: 8 connections taking 100 tokens
    at once from a bucket of 30 get exactly 30 (the refill is set to nothing)."""
    from django.db import connections

    from users.api import ratelimit

    start = threading.Barrier(8)
    allowed: list[bool] = []

    def take_some() -> None:
        try:
            start.wait(timeout=30)
            for _ in range(100):
                allowed.append(
                    ratelimit.take("client:shared", capacity=30, per_second=1e-9).allowed
                )
        finally:
            connections.close_all()

    threads = [threading.Thread(target=take_some) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(allowed) == 800 and allowed.count(True) == 30
