from __future__ import annotations

import json

from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from metadata_admin.http import AuthenticatedHttpRequest
from users import metadata
from users.access import tenant_view, user_for
from users.models import Membership


@require_GET
@tenant_view()
def user_detail(
    request: AuthenticatedHttpRequest, membership: Membership, user_id: str
) -> HttpResponse:
    """One user: profile, identities, both metadata tiers with their size against the limit."""
    user = user_for(membership, user_id)
    limit = membership.tenant.metadata_max_bytes
    tiers = [
        {
            "name": tier,
            "json": json.dumps(getattr(user, tier), indent=2, ensure_ascii=False, sort_keys=True),
            "bytes": metadata.compact_size(getattr(user, tier)),
            "limit": limit,
            "percent": min(100, round(100 * metadata.compact_size(getattr(user, tier)) / limit)),
        }
        for tier in metadata.TIERS
    ]
    profile = {**user.profile(), "user_id": user.user_id, "created_at": user.created_at.isoformat()}
    context = {
        "membership": membership,
        "tenant": membership.tenant,
        "user": user,
        "identities": user.identities.select_related("connection"),
        "tiers": tiers,
        "raw": json.dumps(profile, indent=2, ensure_ascii=False, default=str),
        "size_warning": metadata.profile_size_warning(user.profile()),
        "access_warnings": metadata.access_key_warnings(user.user_metadata),
    }
    return render(request, "users/user_detail.html", context)
