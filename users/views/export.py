"""Exporting the users a search found: choose columns, then a download or a background job."""

from __future__ import annotations

import itertools

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_http_methods

from metadata_admin.http import AuthenticatedHttpRequest
from users import jobs
from users.access import tenant_view
from users.errors import Refusal
from users.exports import export_users
from users.forms import ExportForm
from users.models import Membership, Role, Tenant
from users.search import SearchError, users_matching
from users.search.budget import budgeted, time_budget
from users.search.query import EXACT_TOTAL_LIMIT
from users.search.usage import keys_in_use

# More users than this export as a background job: the users page's exact-total limit, so
# its quick CSV/NDJSON links and this page agree on what "small" is.
STREAM_LIMIT = EXACT_TOTAL_LIMIT


def _download(
    tenant: Tenant, *, q: str, columns: str | None, fmt: str, gzip: bool
) -> StreamingHttpResponse:
    chunks = export_users(tenant, q=q, columns=columns, fmt=fmt, gzip=gzip)
    extension = fmt + (".gz" if gzip else "")
    content_type = (
        "application/gzip"
        if gzip
        else ("text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson")
    )
    # The whole download's database work runs under DOWNLOAD_TIMEOUT_MS. Its first chunk is
    # read now, so a query that cannot finish in time is a message, not a cut-off file.
    stream = budgeted(chunks, settings.DOWNLOAD_TIMEOUT_MS)
    first = next(stream, b"")
    response = StreamingHttpResponse(itertools.chain([first], stream), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="users-{tenant.slug}.{extension}"'
    return response


@require_http_methods(["GET", "POST"])
@tenant_view(Role.ADMIN)
def user_export(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponseBase:
    """Admins and owners (it is bulk personal data). GET with `format` streams the users
    matching `q` with the default or given `fields`; otherwise the page to choose columns,
    whose export streams when at most STREAM_LIMIT users match and runs as a job above."""
    tenant = membership.tenant
    if request.method == "GET" and "format" in request.GET:
        q = request.GET.get("q", "")
        try:
            return _download(
                tenant,
                q=q,
                columns=request.GET.get("fields"),
                fmt=request.GET["format"],
                gzip=request.GET.get("gzip") == "1",
            )
        except Refusal as error:
            messages.error(request, f"Export refused: {error.message}")
            back = reverse("users:user_list", args=[tenant.slug])
            return redirect(f"{back}?{urlencode({'q': q})}" if q else back)
    form = ExportForm(
        request.POST or None,
        initial={"q": request.GET.get("q", ""), "preset": "default"},
        keys_in_use=keys_in_use(tenant),
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        options = {"q": data["q"], "columns": data["columns"], "fmt": data["format"]}
        try:
            matching = users_matching(tenant, data["q"]).values("pk")[: STREAM_LIMIT + 1]
            with time_budget(settings.SEARCH_TIMEOUT_MS):
                many = matching.count()
            if data["background"] or many > STREAM_LIMIT:
                job = jobs.export_job_start(
                    tenant=tenant, staff_pk=request.user.pk, gzip=data["gzip"], **options
                )
                return redirect(reverse("users:job_detail", args=[tenant.slug, job.pk]))
            return _download(tenant, gzip=data["gzip"], **options)
        except Refusal as error:
            form.add_error("q" if isinstance(error, SearchError) else None, error.message)
    context = {"membership": membership, "tenant": tenant, "form": form}
    status = 400 if form.errors else 200
    response: HttpResponse = render(request, "users/export.html", context, status=status)
    return response
