"""The Management API's error body (SPEC.md section 6), one shape for every refusal:
`{"statusCode": 400, "error": "Bad Request", "message": "...", "errorCode": "..."}`."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.http import HttpResponse, JsonResponse

from users.errors import Refusal


class ApiError(Refusal):
    """A refusal of the API itself (scopes, paging, conditions), with its status, message,
    error code and extra response headers."""

    def __init__(
        self, status: int, message: str, code: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message, code=code, status=status)
        self.headers = headers or {}


def error_body(status: int, message: str, code: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "error": HTTPStatus(status).phrase,
        "message": message,
        "errorCode": code,
    }


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> HttpResponse:
    response = JsonResponse(error_body(status, message, code), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response
