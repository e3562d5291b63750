"""What every Management API response gets, whatever answered it: the rate-limit headers,
the user's ETag, Auth0's error body (also on Django's own 404 and 405), and refusal of
bodies over the size limit before anything reads them."""

from __future__ import annotations

import re
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse

from users.api import ratelimit
from users.api.errors import error_response
from users.database import is_busy

API_PREFIX = "/api/"
# The same API by the path form of a tenant (metadata_admin/urls.py).
TENANT_API_PREFIX = re.compile(r"/tenants/[-a-zA-Z0-9_]+/api/")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIX) or TENANT_API_PREFIX.match(path) is not None


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not is_api_path(request.path):
            return self.get_response(request)
        limit = settings.API_MAX_BODY_BYTES
        if request.content_type == "multipart/form-data":
            limit = settings.IMPORT_MAX_BYTES + 1024 * 1024  # a file upload (import)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            response = error_response(
                413,
                f"The request body is {length:,} bytes; the limit is {limit:,}.",
                "invalid_body",
            )
        else:
            response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            response = self._as_api_error(response)
        allowance = getattr(request, "rate_limit", None)
        if allowance is None:  # answered before a client was known: the address's bucket
            try:
                allowance = ratelimit.take(f"ip:{request.META.get('REMOTE_ADDR', '')}")
            except OperationalError as error:
                if not is_busy(error):
                    raise
                # A busy database (the answer is likely its 503): no rate-limit headers.
        if allowance is not None:
            for name, value in allowance.headers().items():
                response[name] = value
        etag = getattr(request, "response_etag", None)
        if etag is not None and response.status_code == 200:
            response["ETag"] = etag
        return response

    @staticmethod
    def _as_api_error(response: HttpResponse) -> HttpResponse:
        """A refusal from outside the API's handlers (no such route, wrong method, a crash)
        in the API's error shape, keeping its status and its Allow header."""
        messages = {
            404: ("No such endpoint.", "inexistent_endpoint"),
            405: ("Method not allowed on this endpoint.", "method_not_allowed"),
            503: ("The database is busy; try again in a moment.", "temporarily_unavailable"),
        }
        message, code = messages.get(
            response.status_code, ("The server could not answer.", "internal_error")
        )
        replaced = error_response(response.status_code, message, code)
        for header in ("Allow", "Retry-After"):
            if header in response:
                replaced[header] = response[header]
        return replaced
