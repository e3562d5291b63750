"""Downloading the users a search found."""

from __future__ import annotations

from django.contrib import messages
from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users.access import tenant_view
from users.exports import ExportError, export_users
from users.models import Membership, Role
from users.search import SearchError


@require_GET
@tenant_view(Role.ADMIN)
def user_export(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponseBase:
    """Stream the users matching `q` as CSV or NDJSON (admins and owners: it is bulk PII)."""
    tenant = membership.tenant
    q = request.GET.get("q", "")
    fmt = request.GET.get("format", "csv")
    gzip = request.GET.get("gzip") == "1"
    try:
        chunks = export_users(tenant, q=q, columns=request.GET.get("fields"), fmt=fmt, gzip=gzip)
    except (ExportError, SearchError) as error:
        messages.error(request, f"Export refused: {error.message}")
        back = reverse("users:user_list", args=[tenant.slug])
        return redirect(f"{back}?{urlencode({'q': q})}" if q else back)
    extension = fmt + (".gz" if gzip else "")
    content_type = (
        "application/gzip" if gzip else ("text/csv" if fmt == "csv" else "application/x-ndjson")
    )
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="users-{tenant.slug}.{extension}"'
    return response
