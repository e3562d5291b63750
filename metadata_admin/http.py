"""Typed request classes for views (STYLE.md: typed function-based views)."""

from __future__ import annotations

from django.contrib.auth.models import User as StaffAccount
from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
    request_id: str


class AuthenticatedHttpRequest(HtmxHttpRequest):
    user: StaffAccount
