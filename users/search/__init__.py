"""User search: Lucene-style `q` -> luqum tree -> field registry -> Django ORM (SPEC.md s. 5)."""

from users.search.errors import (
    InvalidPaging,
    InvalidSort,
    InvalidValue,
    PlanRequired,
    QuerySyntaxError,
    QueryTooExpensive,
    SearchError,
    UnknownField,
    UnsupportedSyntax,
)
from users.search.query import SearchResult, search_users, users_matching

__all__ = [
    "InvalidPaging",
    "InvalidSort",
    "InvalidValue",
    "PlanRequired",
    "QuerySyntaxError",
    "QueryTooExpensive",
    "SearchError",
    "SearchResult",
    "UnknownField",
    "UnsupportedSyntax",
    "search_users",
    "users_matching",
]
