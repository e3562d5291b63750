"""`search_users`: a tenant, a query, a sort, a page or cursor, a field selection -> results.

The same entry point serves the console, the API, exports and the CLI.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import connection
from django.db.models import Exists, F, FilteredRelation, OrderBy, OuterRef, Q, QuerySet
from django.db.models.functions import Lower
from luqum.parser import parser
from luqum.tree import Item

from users import metadata
from users.models import SearchLeaf, Tenant, User
from users.search import fields as registry
from users.search.budget import time_budget
from users.search.compile import MATCH_ALL, Compiler
from users.search.errors import (
    InvalidPaging,
    InvalidSort,
    QuerySyntaxError,
    SearchError,
)
from users.search.fields import Field

MAX_QUERY_LENGTH = 4000
MAX_QUERY_DEPTH = 40
MAX_QUERY_TERMS = 256
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
EXACT_TOTAL_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000  # databases refuse far larger offsets (found by fuzzing the API)
DEFAULT_SORT = "created_at:-1"

# Fields a caller may select: the normalized profile of SPEC.md section 7. The primary key
# and `user_id` always come along.
OUTPUT_FIELDS: tuple[str, ...] = (
    *metadata.READ_ONLY_FIELDS,
    *metadata.PROFILE_STRING_FIELDS,
    *metadata.PROFILE_BOOLEAN_FIELDS,
    *metadata.TIERS,
)

_parse_lock = threading.Lock()  # luqum's PLY parser keeps state between calls
_POSITION = re.compile(r"at position (\d+)")
_CURSOR_SALT = "users.search.cursor"


@dataclass(frozen=True)
class SearchResult:
    users: list[User]
    total: int
    total_is_exact: bool
    next_cursor: str | None
    fields: tuple[str, ...] = OUTPUT_FIELDS
    sort: str = DEFAULT_SORT
    pks: tuple[int, ...] = ()  # the page's users in order (all a caller gets with load=False)

    @property
    def total_display(self) -> str:
        return f"{self.total:,}" if self.total_is_exact else f"{EXACT_TOTAL_LIMIT:,}+"


def parse(q: str) -> Item | None:
    """The luqum tree of `q` (None for an empty query), or QuerySyntaxError with position."""
    if len(q) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            f"The query is {len(q):,} characters; the limit is {MAX_QUERY_LENGTH:,}."
        )
    if "\x00" in q:
        position = q.index("\x00")
        raise QuerySyntaxError(
            f"The query has a NUL character at position {position}.", position=position
        )
    try:
        q.encode("utf-8")
    except UnicodeEncodeError as error:
        raise QuerySyntaxError(
            f"The query is not valid Unicode at position {error.start}.", position=error.start
        ) from None
    if not q.strip():
        return None
    try:
        with _parse_lock:
            parsed = parser.parse(q)
    except Exception as error:  # luqum's ParseError, or anything its lexer trips on
        raise _syntax_error(q, error) from None
    _check_size(parsed)
    return parsed


def _check_size(parsed: Item) -> None:
    """Refuse a query nested deeper than MAX_QUERY_DEPTH or with more than MAX_QUERY_TERMS
    terms, before anything recursive (compiling, SQL) sees it. Walked without recursion."""
    terms = 0
    stack = [(parsed, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_QUERY_DEPTH:
            raise QuerySyntaxError(
                f"The query is nested more than {MAX_QUERY_DEPTH} levels deep (NOT, -, +, "
                "parentheses and fields each add one); simplify it."
            )
        children = list(node.children)
        if not children:
            terms += 1
            if terms > MAX_QUERY_TERMS:
                raise QuerySyntaxError(
                    f"The query has more than {MAX_QUERY_TERMS} terms; split it into smaller "
                    "searches."
                )
        stack.extend((child, depth + 1) for child in children)


def _syntax_error(q: str, error: BaseException) -> QuerySyntaxError:
    text = str(error)
    match = _POSITION.search(text)
    position = int(match.group(1)) if match else len(q)
    detail = text.replace("Syntax error in input : ", "").rstrip("!") or "it cannot be read"
    return QuerySyntaxError(f"Syntax error at position {position}: {detail}.", position=position)


@dataclass(frozen=True)
class SortKey:
    name: str  # annotation name
    descending: bool
    nullable: bool


@dataclass
class _Sort:
    spec: str
    field: Field
    descending: bool


@dataclass(frozen=True)
class _Phase:
    """One ordered stretch of the results; a sort by a metadata path has two."""

    queryset: QuerySet[User]
    keys: list[SortKey]


def _parse_sort(sort: str | None, tenant: Tenant) -> _Sort:
    spec = (sort or DEFAULT_SORT).strip()
    name, _, direction = spec.rpartition(":")
    if not name or direction not in ("1", "-1"):
        raise InvalidSort(f"Sort as field:1 (ascending) or field:-1 (descending), not {spec!r}.")
    try:
        target = registry.resolve(name, tenant, what="Sorting")
    except SearchError as error:
        if error.code == "plan_required":
            raise
        raise InvalidSort(f"Cannot sort by {name!r}: {error.message}") from None
    if not target.sortable:
        raise InvalidSort(f"Cannot sort by {name}; sort by a root field or a metadata path.")
    return _Sort(spec, target, direction == "-1")


def _ordered(queryset: QuerySet[User], keys: list[SortKey], descending: bool) -> QuerySet[User]:
    # NULLS LAST only where there can be nulls: on a NOT NULL column it would stop
    # PostgreSQL from reading the order straight off an index such as (tenant, created_at, id).
    ordering: list[OrderBy] = [
        F(key.name).desc(nulls_last=key.nullable or None)
        if key.descending
        else F(key.name).asc(nulls_last=key.nullable or None)
        for key in keys
    ]
    ordering.append(F("pk").desc() if descending else F("pk").asc())
    return queryset.order_by(*ordering)


def _phases(base: QuerySet[User], sort: _Sort, tenant: Tenant) -> list[_Phase]:
    """The results in order: by the sort field with nulls last either way, ties by id in the
    same direction.

    A metadata path sorts in two phases, users with a value at the path first (walked in
    index order through their first search leaf), then users without one, by id. One outer
    join and a NULLS LAST sort would mean the same but sort the whole tenant every time.
    """
    target = sort.field
    if not target.is_metadata:
        nullable = bool(getattr(User._meta.get_field(target.column), "null", False))
        keys = [SortKey("sort_0", sort.descending, nullable)]
        # Fields matched without case sort without case too, on their lower(...) indexes.
        value = Lower(target.column) if target.case_insensitive else F(target.column)
        annotated = base.annotate(sort_0=value)
        return [_Phase(_ordered(annotated, keys, sort.descending), keys)]
    where = {"tenant_id": tenant.pk, "tier": target.tier, "path": target.path, "first": True}
    relation = FilteredRelation(
        "search_leaves", condition=Q(**{f"search_leaves__{k}": v for k, v in where.items()})
    )
    with_value = (
        base.annotate(sort_leaf=relation)
        .filter(sort_leaf__isnull=False)
        .annotate(sort_0=F("sort_leaf__number"), sort_1=F("sort_leaf__text"))
    )
    keys = [
        SortKey("sort_0", sort.descending, nullable=True),
        SortKey("sort_1", sort.descending, nullable=True),
    ]
    without_value = base.exclude(Exists(SearchLeaf.objects.filter(user_id=OuterRef("pk"), **where)))
    return [
        _Phase(_ordered(with_value, keys, sort.descending), keys),
        _Phase(_ordered(without_value, [], sort.descending), []),
    ]


def _after(keys: list[SortKey], values: list[Any], last_id: int, descending: bool) -> Q:
    """Rows after (values, last_id) in the order of `_ordered` (keyset paging)."""
    conditions: list[Q] = []
    equal = Q()
    for key, value in zip(keys, values, strict=True):
        if value is not None:
            beyond = Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": value})
            conditions.append(equal & (beyond | Q(**{f"{key.name}__isnull": True})))
            equal &= Q(**{key.name: value})
        else:
            equal &= Q(**{f"{key.name}__isnull": True})
    conditions.append(equal & Q(**{f"pk__{'lt' if descending else 'gt'}": last_id}))
    result = conditions[0]
    for condition in conditions[1:]:
        result |= condition
    return result


def _encode_value(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    return datetime.fromisoformat(value["dt"]) if isinstance(value, dict) else value


def _make_cursor(sort: _Sort, row: _Row) -> str:
    values = [_encode_value(value) for value in row.values]
    return signing.dumps(
        {"s": sort.spec, "p": row.phase, "v": values, "i": row.pk}, salt=_CURSOR_SALT, compress=True
    )


def _read_cursor(cursor: str, sort: _Sort, phases: list[_Phase]) -> tuple[int, list[Any], int]:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
        if data["s"] != sort.spec:
            raise InvalidPaging(
                "This cursor belongs to another sort order; start from the first page."
            )
        phase = int(data["p"])
        values = [_decode_value(value) for value in data["v"]]
        if not 0 <= phase < len(phases) or len(values) != len(phases[phase].keys):
            raise ValueError(phase)
        return phase, values, int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidPaging("The cursor is not valid; start from the first page.") from None


@dataclass(frozen=True)
class _Row:
    phase: int
    pk: int
    values: tuple[Any, ...]  # the phase's sort keys, for the next cursor


def _fetch(phases: list[_Phase], first_phase: int, offset: int, limit: int) -> list[_Row]:
    """The ids (and sort values) of `limit` users from `offset`, continuing from one phase
    into the next. Ids first, rows later: ordering reads only what the indexes hold."""
    rows: list[_Row] = []
    for index in range(first_phase, len(phases)):
        phase = phases[index]
        queryset = phase.queryset
        names = [key.name for key in phase.keys]
        found = list(queryset.values_list("pk", *names)[offset : offset + limit - len(rows)])
        rows += [_Row(index, row[0], tuple(row[1:])) for row in found]
        if len(rows) >= limit:
            break
        # This phase is used up: the offset carries over what it did not cover.
        offset = 0 if found or not offset else max(0, offset - queryset.count())
    return rows


def selected_fields(fields: Sequence[str] | None, include_fields: bool) -> tuple[str, ...]:
    if not fields:
        return OUTPUT_FIELDS
    unknown = [name for name in fields if name not in OUTPUT_FIELDS]
    if unknown:
        raise SearchError(
            f"Unknown field(s) in fields: {', '.join(unknown)}. "
            f"Choose from {', '.join(OUTPUT_FIELDS)}."
        )
    chosen = [name for name in OUTPUT_FIELDS if (name in fields) == include_fields]
    return tuple(dict.fromkeys(["user_id", *chosen]))


def users_matching(tenant: Tenant, q: str) -> QuerySet[User]:
    """The tenant's users that `q` matches, unordered and unpaged (for exports and bulk
    jobs). Raises the same typed errors as `search_users`, plan gate included."""
    tree = parse(q)
    condition = Compiler(tenant, connection.vendor).compile(tree) if tree is not None else MATCH_ALL
    return User.objects.filter(condition, tenant=tenant)


def search_users(
    tenant: Tenant,
    q: str = "",
    *,
    sort: str | None = None,
    page: int = 0,
    per_page: int = DEFAULT_PER_PAGE,
    cursor: str | None = None,
    fields: Sequence[str] | None = None,
    include_fields: bool = True,
    exact_total: bool = False,
    count: bool = True,
    load: bool = True,
    timeout_ms: int | None = None,
) -> SearchResult:
    """Search a tenant's users (SPEC.md section 5). Raises only `SearchError` subclasses.
    `count=False` skips the total (the API without include_totals), which for broad queries
    is most of the time; `total` is then the number of users on the page. `load=False`
    leaves `users` empty: the caller reads the page's `pks` its own way (the API does)."""
    budget = timeout_ms if timeout_ms is not None else settings.SEARCH_TIMEOUT_MS
    with time_budget(budget):  # the whole search, parsing and compiling included
        return _search(
            tenant,
            q,
            sort=sort,
            page=page,
            per_page=per_page,
            cursor=cursor,
            fields=fields,
            include_fields=include_fields,
            exact_total=exact_total,
            count=count,
            load=load,
        )


def _search(
    tenant: Tenant,
    q: str,
    *,
    sort: str | None,
    page: int,
    per_page: int,
    cursor: str | None,
    fields: Sequence[str] | None,
    include_fields: bool,
    exact_total: bool,
    count: bool,
    load: bool,
) -> SearchResult:
    if not 0 <= per_page <= MAX_PER_PAGE:
        raise InvalidPaging(f"per_page must be 0 to {MAX_PER_PAGE}, not {per_page}.")
    if page < 0:
        raise InvalidPaging(f"page must be 0 or more, not {page}.")
    if page * per_page > MAX_OFFSET:
        raise InvalidPaging(
            f"page {page} is past the last result any search can reach "
            f"({MAX_OFFSET:,} results in); narrow the query or sort it the other way."
        )
    if cursor and page:
        raise InvalidPaging("Use either page or cursor, not both.")
    selected = selected_fields(fields, include_fields)
    base = users_matching(tenant, q)
    order = _parse_sort(sort, tenant)
    phases = _phases(base, order, tenant)
    first_phase = 0
    if cursor:
        first_phase, values, last_id = _read_cursor(cursor, order, phases)
        current = phases[first_phase]
        after = _after(current.keys, values, last_id, order.descending)
        phases[first_phase] = _Phase(current.queryset.filter(after), current.keys)
    rows = _fetch(phases, first_phase, page * per_page, per_page) if per_page else []
    pks = tuple(row.pk for row in rows)
    users = _load(User.objects.filter(pk__in=pks), selected, rows) if load else []
    # Counting stops just past the limit unless an exact total is asked for.
    unordered = base.order_by()
    limited = unordered if exact_total else unordered.values("pk")[: EXACT_TOTAL_LIMIT + 1]
    total = limited.count() if count else len(pks)
    is_exact = exact_total or total <= EXACT_TOTAL_LIMIT
    if not is_exact:
        total = EXACT_TOTAL_LIMIT
    next_cursor = _make_cursor(order, rows[-1]) if per_page and len(rows) == per_page else None
    return SearchResult(users, total, is_exact, next_cursor, selected, order.spec, pks)


def _load(queryset: QuerySet[User], selected: tuple[str, ...], rows: list[_Row]) -> list[User]:
    """The users of `rows`, in their order, with only the selected fields loaded."""
    if not rows:
        return []
    columns = [name for name in selected if name != "identities"]
    shaped = queryset.order_by().only("id", "tenant_id", "connection_id", *columns)
    if "identities" in selected:
        shaped = shaped.prefetch_related("identities__connection")
    by_pk = {user.pk: user for user in shaped}
    return [by_pk[row.pk] for row in rows if row.pk in by_pk]
