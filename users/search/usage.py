"""Which metadata paths a tenant actually uses, from the search leaves of its newest users."""

from __future__ import annotations

from django.db.models import Count

from users import metadata
from users.models import SearchLeaf, Tenant, User

KEY_SAMPLE = 5000  # counting over every user of a large tenant is too slow for a page view


def paths_in_use(tenant: Tenant) -> dict[str, list[tuple[str, int]]]:
    """Per tier name, the searchable paths among the KEY_SAMPLE newest users and how many
    of them have each, most used first."""
    newest = User.objects.filter(tenant=tenant).order_by("-created_at").values("id")[:KEY_SAMPLE]
    rows = (
        SearchLeaf.objects.filter(tenant=tenant, first=True, user_id__in=newest)
        .values("tier", "path")
        .annotate(n=Count("id"))
        .order_by("-n", "path")
    )
    found: dict[str, list[tuple[str, int]]] = {tier: [] for tier in metadata.TIERS}
    for row in rows:
        found[SearchLeaf.Tier(row["tier"]).tier_name].append((row["path"], row["n"]))
    return found


def keys_in_use(tenant: Tenant) -> list[str]:
    """The first-level keys in use, as export columns (`user_metadata.theme`): a nested
    object or an array exports as one JSON cell."""
    columns: list[str] = []
    for tier, paths in paths_in_use(tenant).items():
        for path, _ in paths:
            column = f"{tier}.{path.split('.')[0]}"
            if column not in columns:
                columns.append(column)
    return columns
