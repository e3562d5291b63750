from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users.access import tenant_view
from users.models import Membership, Role
from users.search import PlanRequired, SearchError, SearchResult, search_users
from users.search.fields import PAID_PLAN_FOR_APP_METADATA

PAGE_SIZE = 50
LIST_FIELDS = ["user_id", "email", "name", "logins_count", "created_at", "last_login", "blocked"]
# Columns the operator can sort by, in table order: (label, sort field).
SORTABLE_COLUMNS = [
    ("Email", "email"),
    ("Name", "name"),
    ("Logins", "logins_count"),
    ("Created", "created_at"),
    ("Last login", "last_login"),
]
EXAMPLES = [
    ("Everyone at a domain", "email.domain:acme.test"),
    ("Names starting with jo", "name:jo*"),
    ("A metadata value", "user_metadata.theme:dark"),
    ("Inside arrays", 'user_metadata.addresses.city:"Paris"'),
    ("A numeric range", "logins_count:[10 TO *]"),
    ("Signed up this year", "created_at:[2026 TO *]"),
    ("Has a key", "_exists_:user_metadata.birthday"),
    ("Combined", "user_metadata.newsletter:true AND NOT blocked:true"),
    ("app_metadata (paid plans)", "app_metadata.plan:pro"),
]


@require_GET
@tenant_view()
def user_list(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """The tenant's users, searched with the query language; the table is swapped by htmx."""
    tenant = membership.tenant
    q = request.GET.get("q", "").strip()
    sort = request.GET.get("sort") or "created_at:-1"
    cursor = request.GET.get("cursor") or None
    result: SearchResult | None = None
    error: SearchError | None = None
    try:
        result = search_users(
            tenant, q, sort=sort, cursor=cursor, per_page=PAGE_SIZE, fields=LIST_FIELDS
        )
    except SearchError as caught:
        error = caught
    base_url = reverse("users:user_list", args=[tenant.slug])
    context = {
        "membership": membership,
        "tenant": tenant,
        "q": q,
        "sort": sort,
        "cursor": cursor,
        "result": result,
        "error": error,
        "plan_required": isinstance(error, PlanRequired),
        "caret": " " * error.position + "^" if error and error.position is not None and q else "",
        "paid_plan": PAID_PLAN_FOR_APP_METADATA.label,
        "columns": [_column(base_url, q, sort, label, field) for label, field in SORTABLE_COLUMNS],
        "examples": [(label, example, _url(base_url, q=example)) for label, example in EXAMPLES],
        "next_url": _url(base_url, q=q, sort=sort, cursor=result.next_cursor)
        if result and result.next_cursor
        else None,
        "first_url": _url(base_url, q=q, sort=sort) if cursor else None,
        "can_export": membership.has_role(Role.ADMIN),
        "export_query": urlencode({"q": q}),
    }
    template = "users/user_list.html#user-table" if request.htmx else "users/user_list.html"
    return render(request, template, context)


def _url(base: str, **params: str | None) -> str:
    query = urlencode({key: value for key, value in params.items() if value})
    return f"{base}?{query}" if query else base


def _column(base: str, q: str, sort: str, label: str, field: str) -> dict[str, str]:
    """A sortable header: clicking sorts by the column, clicking again flips the direction."""
    ascending = f"{field}:1"
    current = "ascending" if sort == ascending else "descending" if sort == f"{field}:-1" else ""
    next_sort = f"{field}:-1" if sort == ascending else ascending
    return {"label": label, "url": _url(base, q=q, sort=next_sort), "current": current}
