"""Typed search errors: each says what is wrong and, where it can, at which position."""

from __future__ import annotations

from users.errors import Refusal


class SearchError(Refusal):
    """A refused search. `code` is the API error code, `status` the HTTP status, `position`
    where in the query it went wrong (when known)."""

    code = "invalid_query_string"
    status = 400

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


class QuerySyntaxError(SearchError):
    """The query does not parse."""


class UnknownField(SearchError):
    """A field the registry does not know."""


class UnsupportedSyntax(SearchError):
    """Valid Lucene that this search does not support (`?`, fuzzy, boosts, regular
    expressions, proximity, a too-short leading wildcard, a range on a non-rangeable field)."""


class InvalidValue(SearchError):
    """A value that does not fit its field (a date that is not one, `yes` for a boolean)."""


class InvalidSort(SearchError):
    """A sort that names an unknown or unsortable field, or a bad direction."""


class InvalidPaging(SearchError):
    code = "invalid_paging"


class PlanRequired(SearchError):
    """Searching, sorting or filtering on app_metadata on a tenant whose plan lacks it."""

    code = "plan_required"
    status = 403


class QueryTooExpensive(SearchError):
    """The search ran past its time budget and was stopped."""

    code = "query_too_expensive"
    status = 503
