"""Compile a luqum tree into a Django `Q` over `User`, for one tenant.

Every term compiles to a condition that is TRUE or FALSE, never NULL, so `NOT` means what it
says on both backends. Metadata terms go through the search leaves (`users.search.leaves`);
on PostgreSQL an exact metadata value is matched with an SQL/JSON path that the GIN index on
the tier serves, and means the same as the leaves (see leaves.py).
"""

from __future__ import annotations

import ipaddress
import json
import math
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from functools import reduce

from django.db.models import Exists, OuterRef, Q
from luqum import tree

from users.models import Identity, SearchLeaf, Tenant
from users.search import fields as registry
from users.search.errors import InvalidValue, QuerySyntaxError, UnsupportedSyntax
from users.search.fields import Field, Kind
from users.search.leaves import BOOLEAN, NUMBER, STRING
from users.search.lookups import like_escape
from users.search.values import (
    Term,
    parse_number,
    parse_period,
    phrase_term,
    typed_value,
    word_term,
)

MATCH_ALL = Q(pk__isnull=False)
MATCH_NONE = Q(pk__in=[])


def _pos(node: tree.Item) -> int | None:
    return getattr(node, "pos", None)


def _all(parts: list[Q]) -> Q:
    return reduce(lambda a, b: a & b, parts) if parts else MATCH_ALL


def _any(parts: list[Q]) -> Q:
    return reduce(lambda a, b: a | b, parts) if parts else MATCH_NONE


def _jsonpath_literal(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return format(Decimal(repr(value)), "f")
    return json.dumps(value, ensure_ascii=False)


def jsonpath_for(path: str, value: str | float | bool) -> str:
    """`$."a"."b" ? (@ == value)`: lax mode skips array levels like the leaves do."""
    steps = "".join(f".{json.dumps(key, ensure_ascii=False)}" for key in path.split("."))
    return f"${steps} ? (@ == {_jsonpath_literal(value)})"


class Compiler:
    def __init__(self, tenant: Tenant, vendor: str) -> None:
        self.tenant = tenant
        self.vendor = vendor

    # --- structure ------------------------------------------------------------------------

    def compile(self, node: tree.Item) -> Q:
        return self._node(node, None)

    def _node(self, node: tree.Item, field: Field | None) -> Q:
        if isinstance(node, tree.SearchField):
            if field is not None:
                raise QuerySyntaxError(
                    f'"{node.name}:" cannot stand inside the value of "{field.name}:".',
                    position=_pos(node),
                )
            return self._search_field(node)
        if isinstance(node, tree.Group | tree.FieldGroup):
            return self._node(node.expr, field)
        if isinstance(node, tree.AndOperation):
            return _all([self._node(child, field) for child in node.children])
        if isinstance(node, tree.OrOperation):
            return _any([self._node(child, field) for child in node.children])
        if isinstance(node, tree.UnknownOperation):
            return self._implicit(node, field)
        if isinstance(node, tree.Not | tree.Prohibit):
            return ~self._node(node.a, field)
        if isinstance(node, tree.Plus):
            return self._node(node.a, field)
        if isinstance(node, tree.Word | tree.Phrase):
            term = self._term(node)
            if field is None:
                return self._bare(term, node)
            return self._match(field, term, node)
        if isinstance(node, tree.Range | tree.From | tree.To):
            if field is None:
                raise QuerySyntaxError(
                    "A range needs a field, like logins_count:[1 TO 5].", position=_pos(node)
                )
            return self._range(field, node)
        raise UnsupportedSyntax(self._unsupported(node), position=_pos(node))

    @staticmethod
    def _unsupported(node: tree.Item) -> str:
        names = {
            tree.Fuzzy: "Fuzzy matching (~)",
            tree.Proximity: "Proximity searches (~)",
            tree.Boost: "Boosts (^)",
            tree.Regex: "Regular expressions (/.../)",
        }
        for kind, label in names.items():
            if isinstance(node, kind):
                return f"{label} are not supported; use exact values, * wildcards and ranges."
        return f"{type(node).__name__} is not supported here."

    def _implicit(self, node: tree.UnknownOperation, field: Field | None) -> Q:
        """Terms side by side, as Lucene reads them: +required, -prohibited, others OR'ed."""
        required: list[Q] = []
        optional: list[Q] = []
        prohibited: list[Q] = []
        for child in node.children:
            if isinstance(child, tree.Plus):
                required.append(self._node(child.a, field))
            elif isinstance(child, tree.Prohibit | tree.Not):
                prohibited.append(self._node(child.a, field))
            else:
                optional.append(self._node(child, field))
        base = _all(required) if required else _any(optional) if optional else MATCH_ALL
        for condition in prohibited:
            base &= ~condition
        return base

    def _term(self, node: tree.Word | tree.Phrase) -> Term:
        if isinstance(node, tree.Phrase):
            return phrase_term(node.value)
        return word_term(node.value, _pos(node))

    def _search_field(self, node: tree.SearchField) -> Q:
        if node.name == "_exists_":
            target = node.expr
            if not isinstance(target, tree.Word):
                raise QuerySyntaxError(
                    "_exists_ takes a field name, like _exists_:user_metadata.plan.",
                    position=_pos(node),
                )
            return self._exists(registry.resolve(target.value, self.tenant, position=_pos(target)))
        field = registry.resolve(node.name, self.tenant, position=_pos(node))
        return self._node(node.expr, field)

    def _bare(self, term: Term, node: tree.Item) -> Q:
        return _any([self._match(field, term, node) for field in registry.BARE_TERM_FIELDS])

    # --- terms --------------------------------------------------------------------------

    def _match(self, field: Field, term: Term, node: tree.Item) -> Q:
        if term.is_match_all:
            return self._exists(field)
        handlers: dict[Kind, Callable[[Field, Term, tree.Item], Q]] = {
            Kind.TEXT: self._text,
            Kind.EMAIL_DOMAIN: self._email_domain,
            Kind.BOOLEAN: self._boolean,
            Kind.NUMBER: self._number,
            Kind.DATE: self._date,
            Kind.IP: self._ip,
            Kind.IDENTITY: self._identity,
            Kind.METADATA: self._metadata,
        }
        return handlers[field.kind](field, term, node)

    @staticmethod
    def _no_wildcard(field: Field, term: Term, node: tree.Item) -> None:
        if term.is_wildcard:
            raise UnsupportedSyntax(f"{field.name} does not take wildcards.", position=_pos(node))

    @staticmethod
    def _text_condition(column: str, term: Term, case_insensitive: bool) -> Q:
        present = Q(**{f"{column}__isnull": False})
        if case_insensitive:
            if term.like is not None:
                return present & Q(**{f"{column}__lower__matches": term.like.lower()})
            return present & Q(**{f"{column}__lower": term.text.lower()})
        if term.like is not None:
            return present & Q(**{f"{column}__matches": term.like})
        return present & Q(**{column: term.text})

    def _text(self, field: Field, term: Term, node: tree.Item) -> Q:
        return self._text_condition(field.column, term, field.case_insensitive)

    def _email_domain(self, field: Field, term: Term, node: tree.Item) -> Q:
        domain = term.like if term.like is not None else like_escape(term.text)
        return Q(email__isnull=False) & Q(email__lower__matches=f"%@{domain.lower()}")

    def _boolean(self, field: Field, term: Term, node: tree.Item) -> Q:
        self._no_wildcard(field, term, node)
        if term.text not in ("true", "false"):
            raise InvalidValue(
                f"{field.name} is true or false, not {term.text!r}.", position=_pos(node)
            )
        return Q(**{field.column: term.text == "true"})

    def _number(self, field: Field, term: Term, node: tree.Item) -> Q:
        self._no_wildcard(field, term, node)
        number = parse_number(term.text)
        if number is None:
            raise InvalidValue(f"{field.name} is a number, not {term.text!r}.", position=_pos(node))
        return Q(**{field.column: number}) if number.is_integer() else MATCH_NONE

    def _date(self, field: Field, term: Term, node: tree.Item) -> Q:
        self._no_wildcard(field, term, node)
        period = parse_period(term.text, _pos(node))
        if period is None:
            raise InvalidValue(
                f"{field.name} takes a date like 2024-11-05 (or 2024-11, 2024, or a quoted "
                f'"2024-11-05T10:00:00Z"), not {term.text!r}.',
                position=_pos(node),
            )
        start, end = period
        return Q(**{f"{field.column}__gte": start, f"{field.column}__lt": end})

    def _ip(self, field: Field, term: Term, node: tree.Item) -> Q:
        self._no_wildcard(field, term, node)
        try:
            address = ipaddress.ip_address(term.text)
        except ValueError:
            raise InvalidValue(
                f"{field.name} takes an IP address, not {term.text!r}.", position=_pos(node)
            ) from None
        return Q(last_ip__isnull=False) & Q(last_ip=str(address))

    def _identity(self, field: Field, term: Term, node: tree.Item) -> Q:
        condition = self._text_condition(field.column, term, case_insensitive=False)
        return Q(Exists(Identity.objects.filter(condition, user_id=OuterRef("pk"))))

    # --- metadata -----------------------------------------------------------------------

    def _leaves(self, field: Field, condition: Q) -> Q:
        leaves = SearchLeaf.objects.filter(
            condition, tenant_id=self.tenant.pk, tier=field.tier, user_id=OuterRef("pk")
        )
        return Q(Exists(leaves))

    def _metadata(self, field: Field, term: Term, node: tree.Item) -> Q:
        if not field.path:
            raise QuerySyntaxError(
                f"Name a path below {field.name}, like {field.name}.theme:dark.",
                position=_pos(node),
            )
        if term.like is not None:
            return self._leaves(field, Q(path=field.path, kind=STRING, text__matches=term.like))
        value = typed_value(term)
        if self.vendor == "postgresql":
            return Q(**{f"{field.tier_column}__jsonpath": jsonpath_for(field.path, value)})
        if isinstance(value, bool):
            return self._leaves(
                field, Q(path=field.path, kind=BOOLEAN, number=1.0 if value else 0.0)
            )
        if isinstance(value, float):
            return self._leaves(field, Q(path=field.path, kind=NUMBER, number=value))
        return self._leaves(field, Q(path=field.path, kind=STRING, text=value))

    def _exists(self, field: Field) -> Q:
        if field.is_metadata:
            if not field.path:
                return self._leaves(field, MATCH_ALL)
            below = like_escape(field.path) + ".%"
            return self._leaves(field, Q(path=field.path) | Q(path__matches=below))
        if field.kind is Kind.IDENTITY:
            return Q(Exists(Identity.objects.filter(user_id=OuterRef("pk"))))
        if field.kind is Kind.EMAIL_DOMAIN:
            return Q(email__isnull=False)
        return Q(**{f"{field.column}__isnull": False})

    # --- ranges -------------------------------------------------------------------------

    def _range(self, field: Field, node: tree.Range | tree.From | tree.To) -> Q:
        if isinstance(node, tree.Range):
            low, high = node.low, node.high
            include_low, include_high = node.include_low, node.include_high
        elif isinstance(node, tree.From):
            low, high, include_low, include_high = node.a, None, node.include, True
        else:
            low, high, include_low, include_high = None, node.a, True, node.include
        bounds = [self._bound(b) for b in (low, high)]
        if field.kind is Kind.NUMBER or (field.is_metadata and self._numeric(bounds)):
            return self._number_range(field, bounds, include_low, include_high, node)
        if field.kind is Kind.DATE or field.is_metadata:
            return self._date_range(field, bounds, include_low, include_high, node)
        raise UnsupportedSyntax(
            f"Ranges work on numbers and dates (logins_count, created_at, updated_at, last_login "
            f"and metadata paths), not on {field.name}.",
            position=_pos(node),
        )

    def _bound(self, node: tree.Item | None) -> str | None:
        if node is None:
            return None
        if isinstance(node, tree.Phrase):
            return phrase_term(node.value).text
        if isinstance(node, tree.Word):
            return None if node.value == "*" else word_term(node.value, _pos(node)).text
        raise QuerySyntaxError("A range bound must be a value or *.", position=_pos(node))

    @staticmethod
    def _numeric(bounds: list[str | None]) -> bool:
        given = [b for b in bounds if b is not None]
        return bool(given) and all(parse_number(b) is not None for b in given)

    def _number_range(
        self,
        field: Field,
        bounds: list[str | None],
        include_low: bool,
        include_high: bool,
        node: tree.Item,
    ) -> Q:
        numbers: list[float | None] = []
        for bound in bounds:
            number = None if bound is None else parse_number(bound)
            if bound is not None and (number is None or not math.isfinite(number)):
                raise InvalidValue(
                    f"{bound!r} is not a number for {field.name}.", position=_pos(node)
                )
            numbers.append(number)
        column = "number" if field.is_metadata else field.column
        parts: list[Q] = []
        if numbers[0] is not None:
            parts.append(Q(**{f"{column}__{'gte' if include_low else 'gt'}": numbers[0]}))
        if numbers[1] is not None:
            parts.append(Q(**{f"{column}__{'lte' if include_high else 'lt'}": numbers[1]}))
        if field.is_metadata:
            return self._leaves(
                field, Q(path=field.path, kind=NUMBER, number__isnull=False) & _all(parts)
            )
        return Q(**{f"{column}__isnull": False}) & _all(parts)

    def _date_range(
        self,
        field: Field,
        bounds: list[str | None],
        include_low: bool,
        include_high: bool,
        node: tree.Item,
    ) -> Q:
        periods: list[tuple[datetime, datetime] | None] = []
        for bound in bounds:
            period = None if bound is None else parse_period(bound, _pos(node))
            if bound is not None and period is None:
                raise InvalidValue(
                    f"{bound!r} is neither a number nor a date (like 2024-11-05 or 2024-11) "
                    f"for {field.name}.",
                    position=_pos(node),
                )
            periods.append(period)
        column = "moment" if field.is_metadata else field.column
        parts: list[Q] = []
        low, high = periods
        if low is not None:
            parts.append(Q(**{f"{column}__gte": low[0] if include_low else low[1]}))
        if high is not None:
            parts.append(Q(**{f"{column}__lt": high[1] if include_high else high[0]}))
        if field.is_metadata:
            return self._leaves(field, Q(path=field.path, moment__isnull=False) & _all(parts))
        return Q(**{f"{column}__isnull": False}) & _all(parts)
