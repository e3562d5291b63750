"""Who may see and do what in a tenant: one helper per object type.

Outsiders get 404 (a tenant's existence is not disclosed); members whose role is too low get
403. `request.htmx` never grants or skips anything.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, Concatenate, ParamSpec

from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.http.response import HttpResponseBase

from metadata_admin.http import AuthenticatedHttpRequest
from users import metadata
from users.models import Membership, Role, User
from users.selectors import tenant_user

P = ParamSpec("P")


def membership_for(
    request: AuthenticatedHttpRequest, slug: str, role: str = Role.VIEWER
) -> Membership:
    """The signed-in staff member's membership of tenant `slug`, with at least `role`."""
    membership = (
        Membership.objects.select_related("tenant")
        .filter(staff_id=request.user.pk, tenant__slug=slug)
        .first()
    )
    if membership is None:
        raise Http404("No such tenant.")
    require_role(membership, role)
    return membership


def require_role(membership: Membership, role: str) -> None:
    if not membership.has_role(role):
        raise PermissionDenied(
            f"This needs the {Role(role).label} role in {membership.tenant.slug}; "
            f"you are {membership.get_role_display()}."
        )


def tier_role(tier: str) -> str:
    """Editors change user_metadata; only admins and owners change app_metadata."""
    return Role.ADMIN if tier == metadata.APP_METADATA else Role.EDITOR


def user_for(membership: Membership, user_id: str) -> User:
    """An end user of the membership's tenant, or 404."""
    user = tenant_user(membership.tenant, user_id)
    if user is None:
        raise Http404("No such user in this tenant.")
    return user


def tenant_view(
    role: str = Role.VIEWER,
) -> Callable[
    [Callable[Concatenate[AuthenticatedHttpRequest, Membership, P], HttpResponseBase]],
    Callable[..., HttpResponseBase],
]:
    """Resolve `<slug:tenant>` to the caller's membership (checking `role`) and hand it on."""

    def decorator(
        view: Callable[Concatenate[AuthenticatedHttpRequest, Membership, P], HttpResponseBase],
    ) -> Callable[..., HttpResponseBase]:
        @functools.wraps(view)
        def wrapped(
            request: AuthenticatedHttpRequest, tenant: str, *args: Any, **kwargs: Any
        ) -> HttpResponseBase:
            return view(request, membership_for(request, tenant, role), *args, **kwargs)

        return wrapped

    return decorator
