"""Django's error pages, but for a busy database: a lock that outlasted its wait is no server
error, and the page says to try again (503 with Retry-After)."""

from __future__ import annotations

import sys

from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.views import defaults

from users.database import RETRY_AFTER_SECONDS, is_busy


def server_error(request: HttpRequest) -> HttpResponse:
    """`handler500`: Django's 500 page, or 503 when the error was a busy database."""
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError) and is_busy(error):
        response = HttpResponse(
            "<!doctype html><title>Busy</title><h1>The database is busy</h1>"
            "<p>Nothing was changed. Try again in a moment.</p>",
            status=503,
        )
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
    return defaults.server_error(request)
