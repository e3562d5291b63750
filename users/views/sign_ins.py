"""The login log in the console: the tenant's sign-ins (admins and owners: the usernames of
failed attempts may be mistyped passwords), filtered and paged; and lifting a user's
brute-force locks (admins and owners, audited)."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.contrib import messages
from django.db.models import Q, QuerySet
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from metadata_admin.http import AuthenticatedHttpRequest
from users import services
from users.access import tenant_view, user_for
from users.audit import Context
from users.forms import SignInFilterForm
from users.models import Channel, Membership, Role, SignIn

PAGE_SIZE = 50
USER_PAGE_LENGTH = 20  # the user page's last sign-ins


def _cursor(raw: str) -> int | None:
    """A row id from the query string, or None (not "²", not 10**30)."""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None


def _filtered(membership: Membership, form: SignInFilterForm) -> QuerySet[SignIn]:
    rows = SignIn.objects.filter(tenant=membership.tenant)
    if not form.is_valid():
        return rows.none()
    data = form.cleaned_data
    if data["outcome"]:
        rows = rows.filter(outcome=data["outcome"])
    if data["user"]:
        who = data["user"].strip()
        rows = rows.filter(Q(target_user_id=who) | Q(username__iexact=who))
    if data["since"]:
        rows = rows.filter(created_at__gte=datetime.combine(data["since"], time(), UTC))
    if data["until"]:
        end = datetime.combine(data["until"], time(), UTC) + timedelta(days=1)
        rows = rows.filter(created_at__lt=end)
    return rows


@require_GET
@tenant_view(Role.ADMIN)
def sign_ins(request: AuthenticatedHttpRequest, membership: Membership) -> HttpResponse:
    """Newest first, PAGE_SIZE a page; `before=<id>` pages to older rows, `after=<id>` to
    newer ones (ids grow with time: rows are only appended)."""
    form = SignInFilterForm(request.GET)
    rows = _filtered(membership, form)
    before, after = _cursor(request.GET.get("before", "")), _cursor(request.GET.get("after", ""))
    if after is not None:
        page = list(rows.filter(id__gt=after).order_by("id")[: PAGE_SIZE + 1])
        newer, older = len(page) > PAGE_SIZE, True
        page = page[:PAGE_SIZE][::-1]
    else:
        if before is not None:
            rows = rows.filter(id__lt=before)
        page = list(rows.order_by("-id")[: PAGE_SIZE + 1])
        newer, older = before is not None, len(page) > PAGE_SIZE
        page = page[:PAGE_SIZE]
    params = request.GET.copy()
    params.pop("before", None)
    params.pop("after", None)
    older_query = newer_query = None
    if page and older:
        older_query = params.copy()
        older_query["before"] = str(page[-1].pk)
    if page and newer:
        newer_query = params.copy()
        newer_query["after"] = str(page[0].pk)
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "form": form,
        "sign_ins": page,
        "older_query": older_query.urlencode() if older_query else None,
        "newer_query": newer_query.urlencode() if newer_query else None,
    }
    template = "users/sign_ins.html#sign-ins-table" if request.htmx else "users/sign_ins.html"
    return render(request, template, context)


@require_POST
@tenant_view(Role.ADMIN)
def user_unblock_sign_ins(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str
) -> HttpResponse:
    """Lift the user's brute-force locks (every IP); audited as `user.unblock_sign_ins`."""
    user = user_for(membership, user_id)
    ips = services.user_unblock_sign_ins(
        user=user, by=Context.for_staff(request, channel=Channel.CONSOLE)
    )
    who = user.email or user.user_id
    if ips:
        messages.success(request, f"{who} may sign in again from {', '.join(ips)}.")
    else:
        messages.info(request, f"{who} was not locked out from any IP.")
    return redirect(reverse("users:user_detail", args=[membership.tenant.slug, user.user_id]))
