"""The API on a busy database: concurrent creates with passwords all succeed (hashing holds no
lock), and a lock that outlasts the wait is a 503 the client may retry, never a 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.hashers import MD5PasswordHasher, check_password
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler
from django.core.wsgi import get_wsgi_application

from tests.api.conftest import Api
from tests.busy import held, short_lock_waits
from users.models import Tenant, User

CREATES = 16
DB = "Username-Password-Authentication"
LATER = {"connection": DB, "email": "later@x.test"}


class SlowHasher(MD5PasswordHasher):
    """As slow as a production hasher (PBKDF2, 0.3-0.4 s), without burning the CPU."""

    def encode(self, password: str, salt: str) -> str:
        time.sleep(0.4)
        return super().encode(password, salt)


class _Server(ThreadedWSGIServer):
    request_queue_size = 64  # the default (5) may reset simultaneous connections


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


@pytest.mark.django_db(transaction=True)
def test_sixteen_concurrent_creates_with_passwords_all_succeed(
    server: str, api: Api, tenant: Tenant, settings: Any
) -> None:
    """Each create hashes its password (0.4 s here) before its transaction: on SQLite the
    write lock is held for milliseconds per user, not 0.4 s, and nobody times out."""
    settings.PASSWORD_HASHERS = [f"{__name__}.SlowHasher"]
    start = threading.Barrier(CREATES)
    answers: list[tuple[int, str]] = []

    def create(index: int) -> None:
        with httpx.Client(base_url=f"{server}/api/v2", timeout=60) as http:
            start.wait(timeout=60)
            response = http.post(
                "/users",
                json={
                    "connection": DB,
                    "email": f"u{index}@x.test",
                    "password": f"password number {index}",
                },
                headers={"Authorization": f"Bearer {api.token}"},
            )
            answers.append((response.status_code, response.text[:200]))

    threads = [threading.Thread(target=create, args=(i,)) for i in range(CREATES)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [status for status, _ in answers] == [201] * CREATES, answers
    users = User.objects.filter(tenant=tenant)
    assert users.count() == CREATES
    ada = users.get(email="u3@x.test")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    assert check_password("password number 3", ada.password)


@pytest.mark.django_db(transaction=True)
def test_a_lock_that_outlasts_the_wait_is_a_503_to_retry(api: Api, tenant: Tenant) -> None:
    with short_lock_waits(0.2), held(1.5, tables=(User._meta.db_table,)):
        response = api.call("POST", "/users", LATER)
    assert response.status_code == 503, response.content
    assert response.json() == {
        "statusCode": 503,
        "error": "Service Unavailable",
        "message": "The database is busy; try again in a moment.",
        "errorCode": "temporarily_unavailable",
    }
    assert int(response["Retry-After"]) >= 1
    assert not User.objects.filter(tenant=tenant).exists()
    # Once the lock is gone, the same request succeeds.
    assert api.call("POST", "/users", LATER).status_code == 201
