"""Request-wide plumbing that every channel relies on."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import resolve_url
from django_htmx.http import HttpResponseClientRedirect

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (a sane incoming X-Request-ID is kept) for audit events and logs."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HtmxLoginRedirectMiddleware:
    """An htmx request whose session expired gets a client redirect to sign in, instead of
    a sign-in page swapped into the region it asked for."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            request.headers.get("HX-Request") == "true"
            and isinstance(response, HttpResponseRedirect)
            and response.url.startswith(resolve_url(settings.LOGIN_URL))
        ):
            return HttpResponseClientRedirect(response.url)
        return response


class NoStoreMiddleware:
    """`Cache-Control: no-store` on everything the application answers: console pages, CSV and
    NDJSON downloads, job files and the API all carry personal data that no browser or shared
    cache should keep. Static files (WhiteNoise answers them above this) keep their caching."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        prefix = urlsplit(settings.STATIC_URL or "").path
        # Static files served by Django itself (runserver) keep theirs too; a STATIC_URL of
        # "/" would exempt everything, so it exempts nothing.
        self.static_prefix = prefix if prefix.strip("/") else None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.static_prefix is None or not request.path.startswith(self.static_prefix):
            response["Cache-Control"] = "no-store"
        return response


# A view marked `keeps_post_over_sign_in(return_to)` is one whose form an operator must not
# lose when their session expired while they were typing.
KEEPS_POST = "keeps_post_over_sign_in"
PENDING_POST = "pending_post"

V = TypeVar("V", bound=Callable[..., Any])


def keeps_post_over_sign_in(return_to: Callable[..., str]) -> Callable[[V], V]:
    """Mark a POST-only view: `return_to(**url_kwargs)` is the page that offers its form back."""

    def mark(view: V) -> V:
        setattr(view, KEEPS_POST, return_to)
        return view

    return mark


class KeepPostOverSignInMiddleware:
    """A POST to a `keeps_post_over_sign_in` view from someone whose session expired is kept
    in the (new) session, and the sign-in sends them back to the view's `return_to` page,
    which offers the form back, unsaved. Placed just before LoginRequiredMiddleware."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        return_to = getattr(view, KEEPS_POST, None)
        signed_in = request.user.is_authenticated
        if request.method != "POST" or signed_in or return_to is None:
            return None
        fields = {key: request.POST[key] for key in request.POST if key != "csrfmiddlewaretoken"}
        request.session[PENDING_POST] = {"path": request.path, "fields": fields}
        back = redirect_to_login(return_to(**kwargs), resolve_url(settings.LOGIN_URL))
        if request.headers.get("HX-Request") == "true":
            return HttpResponseClientRedirect(back.url)
        return back
