"""The Auth0-compatible Management API v2 (django-ninja), mounted at /api/v2/."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import OperationalError
from django.http import Http404, HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI
from ninja.errors import HttpError, ValidationError

from users import metadata
from users.api import jobs, users
from users.api.auth import ClientToken
from users.api.errors import ApiError, error_response
from users.database import RETRY_AFTER_SECONDS, is_busy
from users.errors import Refusal

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Metadata Admin Management API",
    version="2",
    description="Auth0-compatible Management API v2 for users and their metadata.",
    urls_namespace="api",
    auth=ClientToken(),
    docs_url=None,  # the interactive docs load from a CDN; the schema is at openapi.json
)
api.add_router("/", users.router)
api.add_router("/", jobs.router)


@api.exception_handler(Refusal)
def refusal(request: HttpRequest, error: Refusal) -> HttpResponse:
    """Every layer's refusals (rules, write path, search, exports, imports, the API's own),
    in Auth0's error body with their own status and code."""
    headers = error.headers if isinstance(error, ApiError) else None
    return error_response(error.status, error.message, error.code, headers)


def _where(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ()) if part not in ("body", "payload")]
    return ".".join(location)


@api.exception_handler(ValidationError)
def validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    """Wrong types or missing values, said as Auth0 says them."""
    first = error.errors[0] if error.errors else {}
    in_query = bool(first.get("loc")) and first["loc"][0] in ("query", "path")
    where = _where(first)
    message = f"Payload validation error: '{first.get('msg', 'invalid value')}'"
    if where:
        message += f" on property {where}"
    code = "invalid_query_string" if in_query else "invalid_body"
    return error_response(400, message + ".", code)


@api.exception_handler(HttpError)
def http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    cause = error.__cause__
    message = metadata.json_error_message(cause, "The body") if cause is not None else None
    if message is not None:
        return error_response(400, message, "invalid_body")
    if isinstance(cause, UnicodeDecodeError):
        return error_response(400, "The body is not UTF-8.", "invalid_body")
    if isinstance(cause, RequestDataTooBig):  # a body sent without Content-Length
        return error_response(413, "The request body is too large.", "invalid_body")
    code = {401: "invalid_token", 403: "insufficient_scope", 429: "too_many_requests"}
    return error_response(
        error.status_code, error.message, code.get(error.status_code, "invalid_body")
    )


@api.exception_handler(Http404)
def not_found(request: HttpRequest, error: Http404) -> HttpResponse:
    return error_response(404, "Not found.", "inexistent_user")


@api.exception_handler(MultiPartParserError)
def bad_multipart(request: HttpRequest, error: MultiPartParserError) -> HttpResponse:
    return error_response(400, f"The multipart body cannot be read: {error}.", "invalid_body")


@api.exception_handler(OperationalError)
def database_error(request: HttpRequest, error: OperationalError) -> HttpResponse:
    """A lock that outlasted the wait (SQLite's busy timeout, PostgreSQL's lock timeout, a
    deadlock) is no bug: 503 with Retry-After, and the client tries again. Any other
    database failure is the catch-all's 500."""
    if not is_busy(error):
        return unexpected(request, error)
    logger.warning("Database busy in %s %s: %s", request.method, request.path, error)
    return error_response(
        503,
        "The database is busy; try again in a moment.",
        "temporarily_unavailable",
        {"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@api.exception_handler(Exception)
def unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    """A bug: logged with its traceback (as Django would), answered in the API's shape."""
    logger.exception("Unhandled error in %s %s", request.method, request.path, exc_info=error)
    return error_response(500, "The server could not answer.", "internal_error")
