"""Search-leaf upkeep: a user's metadata as rows of `SearchLeaf` (what `users.search`
queries), written when users are created and rewritten for the tiers an update changed.
Called only inside the write path's transactions."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from users import metadata
from users.bulk import datetime_adapter, insert_tuples
from users.models import SearchLeaf, User
from users.search.leaves import leaves as search_leaves

_COLUMNS = ("tenant_id", "user_id", "tier", "path", "kind", "first", "text", "number", "moment")


def _rows(user: User, tiers: Iterable[str]) -> list[tuple[Any, ...]]:
    """The user's search leaves of `tiers` as rows of `_COLUMNS`."""
    adapt = datetime_adapter()
    return [
        (
            user.tenant_id,
            user.pk,
            SearchLeaf.Tier.of(tier),
            leaf.path,
            leaf.kind,
            leaf.first,
            leaf.text,
            leaf.number,
            None if leaf.moment is None else adapt(leaf.moment),
        )
        for tier in tiers
        for leaf in search_leaves(getattr(user, tier))
    ]


def leaves_insert(users: Iterable[User]) -> None:
    """The leaves of new users (saved, so with their pks), both tiers."""
    insert_tuples(
        SearchLeaf, _COLUMNS, (row for user in users for row in _rows(user, metadata.TIERS))
    )


def leaves_rewrite(changed: Sequence[tuple[User, Sequence[str]]]) -> None:
    """Replace the leaves of each user's changed tiers with those of its current metadata."""
    for tier in metadata.TIERS:
        pks = [user.pk for user, tiers in changed if tier in tiers]
        if pks:
            SearchLeaf.objects.filter(user_id__in=pks, tier=SearchLeaf.Tier.of(tier)).delete()
    insert_tuples(
        SearchLeaf, _COLUMNS, (row for user, tiers in changed for row in _rows(user, tiers))
    )
