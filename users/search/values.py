"""Values inside a query: wildcard terms, phrases, typed metadata values, numbers, dates."""

from __future__ import annotations

import calendar
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from users.search.errors import InvalidValue, UnsupportedSyntax
from users.search.lookups import like_escape

MIN_LEADING_WILDCARD_LITERALS = 3

_NUMBER = re.compile(r"^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$")
_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:[T ](?P<H>\d{2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?"
    r"(?P<tz>Z|[+-]\d{2}:?\d{2})?)?)?)?$"
)


@dataclass(frozen=True)
class Term:
    """One value: `text` with escapes resolved; `like` is set when it has wildcards."""

    text: str
    like: str | None = None
    quoted: bool = False
    literal_count: int = 0

    @property
    def is_wildcard(self) -> bool:
        return self.like is not None

    @property
    def is_match_all(self) -> bool:
        return self.like == "%"


def word_term(raw: str, position: int | None = None) -> Term:
    """An unquoted word: backslash escapes, `*` wildcards; `?` is refused."""
    text: list[str] = []
    like: list[str] = []
    wildcard = False
    escaped = False
    for char in raw:
        if escaped:
            text.append(char)
            like.append(like_escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            wildcard = True
            like.append("%")
        elif char == "?":
            raise UnsupportedSyntax(
                f'"?" wildcards are not supported (in {raw!r}); use * for any run of characters '
                "or \\? for a literal question mark.",
                position=position,
            )
        else:
            text.append(char)
            like.append(like_escape(char))
    if escaped:
        text.append("\\")
        like.append("\\\\")
    literal = "".join(text)
    if not wildcard:
        return Term(literal, literal_count=len(literal))
    pattern = re.sub("%+", "%", "".join(like))
    if pattern.startswith("%") and pattern != "%" and len(literal) < MIN_LEADING_WILDCARD_LITERALS:
        raise UnsupportedSyntax(
            f"A leading * needs at least {MIN_LEADING_WILDCARD_LITERALS} other characters "
            f"(like *son or *@acme.com); {raw!r} has {len(literal)}.",
            position=position,
        )
    return Term(literal, like=pattern, literal_count=len(literal))


def phrase_term(raw: str) -> Term:
    """A quoted phrase: exact, escapes resolved, `*` literal."""
    inner = raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] == '"' else raw
    text = re.sub(r"\\(.)", r"\1", inner, flags=re.DOTALL)
    return Term(text, quoted=True, literal_count=len(text))


def parse_number(text: str) -> float | None:
    if not _NUMBER.match(text):
        return None
    try:
        number = float(text)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None  # 1e999 is no number a user can have


def typed_value(term: Term) -> str | float | bool:
    """What a metadata value is compared with: quoted values are strings, `true`/`false`
    booleans, numbers numbers, any other word a string."""
    if term.quoted:
        return term.text
    if term.text in ("true", "false"):
        return term.text == "true"
    number = parse_number(term.text)
    return number if number is not None else term.text


def parse_period(text: str, position: int | None = None) -> tuple[datetime, datetime] | None:
    """A date or date-time, partial or whole, as the half-open UTC period it names:
    `2024` is the year, `2024-11` the month, `2024-11-05` the day, and a time its second."""
    match = _DATE.match(text)
    if not match:
        return None
    parts = match.groupdict()
    try:
        year = int(parts["y"])
        if parts["m"] is None:
            return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
        month = int(parts["m"])
        if parts["d"] is None:
            start = datetime(year, month, 1, tzinfo=UTC)
            days = calendar.monthrange(year, month)[1]
            return start, start + timedelta(days=days)
        day = datetime(year, month, int(parts["d"]), tzinfo=UTC)
        if parts["H"] is None:
            return day, day + timedelta(days=1)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        moment = moment.astimezone(UTC)
        step = timedelta(microseconds=1) if parts["f"] else timedelta(seconds=1)
        if parts["S"] is None:
            step = timedelta(minutes=1)
        return moment, moment + step
    except (ValueError, OverflowError):  # OverflowError: past year 9999 in UTC
        raise InvalidValue(
            f"{text!r} is not a valid date (or it falls outside years 1 to 9999 in UTC).",
            position=position,
        ) from None
