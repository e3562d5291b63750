"""The production server: `python -m metadata_admin.serve` (what `make serve` runs).

Waitress, not gunicorn's workers, because of slow clients. A sync worker reads a request on
the process that runs it, so a client that sends its headers slowly, or claims a large body
and sends nothing, holds the process until the worker timeout (30 s); a gthread worker's
thread waits on such a client with no timeout at all, so as many slow clients as there are
threads stall it for good. Waitress reads every request (headers and body, spooled to a
temporary file past 512 KB) on its event loop and hands only complete requests to its
threads: slow clients cost a connection each, never a thread. A body larger than the largest
import is refused (413) as soon as its Content-Length says so; a connection idle for
SERVER_CHANNEL_TIMEOUT seconds is closed.

Settings, from the environment like the rest (see .env.example): SERVER_LISTEN,
SERVER_THREADS, SERVER_CONNECTION_LIMIT, SERVER_CHANNEL_TIMEOUT, and BEHIND_PROXY with
PROXY_ADDRESS for a TLS-terminating proxy in front.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings

from metadata_admin.settings import env_bool, env_int, env_str

# Headers of a request may take this many bytes (waitress's default is 256 KB).
MAX_HEADER_BYTES = 64 * 1024


def options() -> dict[str, Any]:
    """waitress.serve's keyword arguments, from the environment."""
    largest_body = max(settings.IMPORT_MAX_BYTES, settings.API_MAX_BODY_BYTES) + 1024 * 1024
    idle = env_int("SERVER_CHANNEL_TIMEOUT", 30)
    chosen: dict[str, Any] = {
        "listen": env_str("SERVER_LISTEN", "127.0.0.1:8000"),
        "threads": env_int("SERVER_THREADS", 8),
        "connection_limit": env_int("SERVER_CONNECTION_LIMIT", 500),
        "channel_timeout": idle,
        # How often idle connections are looked for (waitress's default: every 30 s).
        "cleanup_interval": max(1, min(idle // 2, 30)),
        "max_request_body_size": largest_body,
        "max_request_header_size": MAX_HEADER_BYTES,
        # poll(), not select(): select() cannot watch more than 1,024 descriptors.
        "asyncore_use_poll": True,
        "ident": "",
    }
    if env_bool("BEHIND_PROXY", default=False):
        # The proxy's X-Forwarded-For becomes REMOTE_ADDR (sign-in lockouts and the API's
        # per-address rate limit see the client, not the proxy) and its X-Forwarded-Proto the
        # scheme; from any other peer those headers are dropped.
        chosen["trusted_proxy"] = env_str("PROXY_ADDRESS", "127.0.0.1")
        chosen["trusted_proxy_count"] = 1
        chosen["trusted_proxy_headers"] = {"x-forwarded-for", "x-forwarded-proto"}
    return chosen


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")
    import waitress

    from metadata_admin.wsgi import application

    waitress.serve(application, **options())


if __name__ == "__main__":
    main()
