"""`search_users`: a tenant, a query, a sort, a page or cursor, a field selection -> results.

The same entry point serves the console, the API, exports and the CLI.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db import DatabaseError, connection, transaction
from django.db.models import F, FilteredRelation, OrderBy, Q, QuerySet
from luqum.exceptions import ParseError
from luqum.parser import parser
from luqum.tree import Item

from users.models import Tenant, User
from users.search import fields as registry
from users.search.compile import MATCH_ALL, Compiler
from users.search.errors import (
    InvalidPaging,
    InvalidSort,
    QuerySyntaxError,
    QueryTooExpensive,
    SearchError,
)
from users.search.fields import Field

MAX_QUERY_LENGTH = 4000
MAX_PER_PAGE = 100
DEFAULT_PER_PAGE = 50
EXACT_TOTAL_LIMIT = 10_000
DEFAULT_SORT = "created_at:-1"

# Fields a caller may select (SPEC.md section 7); `id` and `user_id` always come along.
OUTPUT_FIELDS: tuple[str, ...] = (
    "user_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "identities",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "blocked",
    "user_metadata",
    "app_metadata",
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
            return parser.parse(q)
    except (ParseError, RecursionError) as error:
        raise _syntax_error(q, error) from None
    except Exception as error:
        raise _syntax_error(q, error) from None


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


@dataclass
class _Sort:
    spec: str
    field: Field
    descending: bool
    keys: list[SortKey] = dataclass_field(default_factory=list)


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


def _sorted(queryset: QuerySet[User], sort: _Sort) -> QuerySet[User]:
    """Order by the sort field, nulls last either way, then by id in the same direction."""
    target = sort.field
    if target.is_metadata:
        relation = FilteredRelation(
            "search_leaves",
            condition=Q(
                search_leaves__tier=target.tier,
                search_leaves__path=target.path,
                search_leaves__first=True,
            ),
        )
        queryset = queryset.annotate(sort_leaf=relation).annotate(
            sort_0=F("sort_leaf__number"), sort_1=F("sort_leaf__text")
        )
        sort.keys = [SortKey("sort_0", sort.descending), SortKey("sort_1", sort.descending)]
    else:
        queryset = queryset.annotate(sort_0=F(target.column))
        sort.keys = [SortKey("sort_0", sort.descending)]
    ordering: list[OrderBy] = [
        F(key.name).desc(nulls_last=True) if key.descending else F(key.name).asc(nulls_last=True)
        for key in sort.keys
    ]
    ordering.append(F("pk").desc() if sort.descending else F("pk").asc())
    return queryset.order_by(*ordering)


def _after(sort: _Sort, values: list[Any], last_id: int) -> Q:
    """Rows after (values, last_id) in the order of `_sorted` (keyset paging)."""
    conditions: list[Q] = []
    equal = Q()
    for key, value in zip(sort.keys, values, strict=True):
        if value is not None:
            beyond = Q(**{f"{key.name}__{'lt' if key.descending else 'gt'}": value})
            conditions.append(equal & (beyond | Q(**{f"{key.name}__isnull": True})))
            equal &= Q(**{key.name: value})
        else:
            equal &= Q(**{f"{key.name}__isnull": True})
    conditions.append(equal & Q(**{f"pk__{'lt' if sort.descending else 'gt'}": last_id}))
    result = conditions[0]
    for condition in conditions[1:]:
        result |= condition
    return result


def _encode_value(value: Any) -> Any:
    return {"dt": value.isoformat()} if isinstance(value, datetime) else value


def _decode_value(value: Any) -> Any:
    return datetime.fromisoformat(value["dt"]) if isinstance(value, dict) else value


def _make_cursor(sort: _Sort, user: User) -> str:
    values = [_encode_value(getattr(user, key.name)) for key in sort.keys]
    return signing.dumps(
        {"s": sort.spec, "v": values, "i": user.pk}, salt=_CURSOR_SALT, compress=True
    )


def _read_cursor(cursor: str, sort: _Sort) -> tuple[list[Any], int]:
    try:
        data = signing.loads(cursor, salt=_CURSOR_SALT)
        if data["s"] != sort.spec:
            raise InvalidPaging(
                "This cursor belongs to another sort order; start from the first page."
            )
        return [_decode_value(value) for value in data["v"]], int(data["i"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise InvalidPaging("The cursor is not valid; start from the first page.") from None


def _selected(fields: Sequence[str] | None, include_fields: bool) -> tuple[str, ...]:
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


@contextlib.contextmanager
def _time_budget(milliseconds: int) -> Iterator[None]:
    """Stop a runaway search: PostgreSQL's statement_timeout, SQLite's progress handler."""
    try:
        if connection.vendor == "postgresql":
            # A local setting inside a (possibly nested) transaction; put back afterwards so
            # the rest of an enclosing transaction keeps its own timeout.
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT current_setting('statement_timeout')")
                previous = cursor.fetchone()[0]
                cursor.execute(
                    "SELECT set_config('statement_timeout', %s, true)", [f"{milliseconds}ms"]
                )
                yield
                cursor.execute("SELECT set_config('statement_timeout', %s, true)", [previous])
        elif connection.vendor == "sqlite":
            connection.ensure_connection()
            deadline = time.monotonic() + milliseconds / 1000
            raw = connection.connection
            raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                yield
            finally:
                raw.set_progress_handler(None, 0)
        else:
            yield
    except DatabaseError as error:
        text = str(error).lower()
        if "statement timeout" in text or "canceling statement" in text or "interrupted" in text:
            raise QueryTooExpensive(
                f"This search took longer than {milliseconds:,} ms and was stopped. Narrow it "
                "(add a field, avoid leading wildcards) or sort by a root field."
            ) from None
        raise


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
    timeout_ms: int | None = None,
) -> SearchResult:
    """Search a tenant's users (SPEC.md section 5). Raises only `SearchError` subclasses."""
    if not 0 <= per_page <= MAX_PER_PAGE:
        raise InvalidPaging(f"per_page must be 0 to {MAX_PER_PAGE}, not {per_page}.")
    if page < 0:
        raise InvalidPaging(f"page must be 0 or more, not {page}.")
    if cursor and page:
        raise InvalidPaging("Use either page or cursor, not both.")
    selected = _selected(fields, include_fields)
    tree = parse(q)
    condition = Compiler(tenant, connection.vendor).compile(tree) if tree is not None else MATCH_ALL
    order = _parse_sort(sort, tenant)
    base = User.objects.filter(condition, tenant=tenant)
    ordered = _sorted(base, order)
    if cursor:
        values, last_id = _read_cursor(cursor, order)
        ordered = ordered.filter(_after(order, values, last_id))
    columns = [name for name in selected if name != "identities"]
    listing = ordered.only("id", "tenant_id", "connection_id", *columns)
    if "identities" in selected:
        listing = listing.prefetch_related("identities__connection")
    budget = timeout_ms if timeout_ms is not None else settings.SEARCH_TIMEOUT_MS
    with _time_budget(budget):
        users = list(listing[page * per_page : page * per_page + per_page]) if per_page else []
        # Counting stops just past the limit unless an exact total is asked for.
        limited = base if exact_total else base.values("pk")[: EXACT_TOTAL_LIMIT + 1]
        total = limited.count()
    is_exact = exact_total or total <= EXACT_TOTAL_LIMIT
    if not is_exact:
        total = EXACT_TOTAL_LIMIT
    next_cursor = _make_cursor(order, users[-1]) if per_page and len(users) == per_page else None
    return SearchResult(users, total, is_exact, next_cursor, selected, order.spec)
