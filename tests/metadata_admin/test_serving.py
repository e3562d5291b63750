"""The production server (`python -m metadata_admin.serve`, what `make serve` runs) keeps
answering while slow clients hold connections: ones that send their headers a little at a
time, ones that claim a large body and send none of it, and ones that claim 1 GB. With
gunicorn's sync workers each of those holds a worker for the 30 s timeout; with gthread
workers each holds a thread for good."""

from __future__ import annotations

import http.client
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from metadata_admin import serve
from tests.metadata_admin.test_production import BASE_DIR, PRODUCTION_ENV, process_env

THREADS = 2
# More slow clients of each kind than the server has threads.
SLOW_CLIENTS = THREADS * 3


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[int]:
    """The documented command, on a free loopback port, with the production environment
    (minus the HTTPS redirect: this test speaks plain HTTP to it, as a proxy in front would)."""
    port = free_port()
    env = process_env(
        {
            **PRODUCTION_ENV,
            "ALLOWED_HOSTS": "127.0.0.1",
            "SECURE_SSL_REDIRECT": "False",
            "SECURE_COOKIES": "False",
            "BEHIND_PROXY": "False",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}",
            "SERVER_LISTEN": f"127.0.0.1:{port}",
            "SERVER_THREADS": str(THREADS),
        }
    )
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "metadata_admin.serve"],
        cwd=BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def timed_get(port: int, path: str = "/accounts/login/") -> tuple[int, float, Any]:
    started = time.monotonic()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, time.monotonic() - started, response


def csrf_cookie(port: int) -> str:
    _, _, response = timed_get(port)
    found = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie") or "")
    assert found is not None
    return found.group(1)


def open_slow(port: int, head: str) -> socket.socket:
    slow = socket.create_connection(("127.0.0.1", port), timeout=5)
    slow.sendall(head.encode())
    return slow


def test_slow_clients_do_not_stall_the_server(server: int) -> None:
    port = server
    assert timed_get(port)[0] == 200
    token = csrf_cookie(port)
    # A sign-in form posted as multipart with a valid CSRF cookie: Django would read this
    # body (10 MB claimed, none sent) before it could answer.
    unread_body = (
        "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: csrftoken={token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 10000000\r\n\r\n"
    )
    # Headers that never end.
    endless_headers = "GET /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "
    # The client: 1 GB claimed, nothing sent.
    gigabyte = (
        "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Cookie: csrftoken={token}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000000\r\n\r\n"
    )
    slow = [
        open_slow(port, head)
        for head in (unread_body, endless_headers, gigabyte)
        for _ in range(SLOW_CLIENTS)
    ]
    try:
        time.sleep(0.5)  # every slow client is in, and waiting
        for _ in range(3):
            status, took, _ = timed_get(port)
            assert status == 200
            assert took < 2, f"a normal request took {took:.1f} s behind slow clients"
        # The 1 GB claim is refused at once, before anything reads it.
        for connection in slow[-SLOW_CLIENTS:]:
            assert connection.recv(64).startswith(b"HTTP/1.1 413")
    finally:
        for connection in slow:
            connection.close()


def test_a_slow_client_that_finishes_is_answered(server: int) -> None:
    """Slow is not refused: a body sent in pieces, with pauses, is answered when complete."""
    port = server
    body = b"username=nobody%40x.test&password=wrong"
    trickle = open_slow(
        port,
        "POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        "Content-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n",
    )
    try:
        for piece in (body[:10], body[10:20], body[20:]):
            time.sleep(0.3)
            assert timed_get(port)[0] == 200  # others are served meanwhile
            trickle.sendall(piece)
        answer = trickle.recv(64)
        assert answer.startswith(b"HTTP/1.1 403")  # read in full; no CSRF cookie, so refused
    finally:
        trickle.close()


def test_server_options_follow_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SERVER_LISTEN", "0.0.0.0:9000")
    monkeypatch.setenv("SERVER_THREADS", "16")
    monkeypatch.delenv("BEHIND_PROXY", raising=False)
    chosen = serve.options()
    assert chosen["listen"] == "0.0.0.0:9000" and chosen["threads"] == 16
    assert chosen["max_request_body_size"] > 100 * 1024 * 1024  # the largest import fits
    assert "trusted_proxy" not in chosen
    monkeypatch.setenv("BEHIND_PROXY", "True")
    monkeypatch.setenv("PROXY_ADDRESS", "10.0.0.2")
    behind = serve.options()
    assert behind["trusted_proxy"] == "10.0.0.2"
    assert behind["trusted_proxy_headers"] == {"x-forwarded-for", "x-forwarded-proto"}
