"""Fuzz `q` of GET /api/v2/users on a live server with queries built to hurt: nested deep,
long, with values that overflow on conversion, and random Lucene. Every answer must be a
200, or a 400 or 503 in the standard error body, within the search budget (plus slack).

Run by `make fuzz-api` (tests/api/fuzz.sh) after schemathesis, as
`python -m tests.api.fuzz_q URL TOKEN [--examples N] [--seed S] [--budget-ms MS]`.
Prints one summary line; exits non-zero on the first failing example (hypothesis shrinks it).
"""

from __future__ import annotations

import argparse
import sys
import time
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

FIELDS = [
    "email",
    "name",
    "user_id",
    "created_at",
    "logins_count",
    "blocked",
    "user_metadata.theme",
    "user_metadata.n",
    "user_metadata.a.b.c",
    "app_metadata.plan",
    "identities.provider",
]
OVERFLOWING = [
    "1e999",
    "-1e999",
    "9" * 400,
    '"9999-12-31T23:59:59-23:59"',
    "9999-12-31T23:59:59",
    "0001-01-01T00:00:00+23:59",
    "[1 TO 1e999]",
    "[* TO 9999-12-31]",
    ">1e308",
    '"\\u0000"',
]
WORDS = st.sampled_from(["dark", "ada", "*son", "pro", "true", "42", "2024-11", "*", "x*y"])
VALUES = st.one_of(WORDS, st.sampled_from(OVERFLOWING), st.text(max_size=12))
TERMS = st.builds(lambda field, value: f"{field}:{value}", st.sampled_from(FIELDS), VALUES)
PREFIXES = st.sampled_from(["NOT ", "-", "+", "!"])


@st.composite
def deep(draw: st.DrawFn) -> str:
    """A term under hundreds to thousands of prefixes or parentheses."""
    depth = draw(st.integers(min_value=30, max_value=1200))
    term = draw(TERMS)
    if draw(st.booleans()):
        return "(" * depth + term + ")" * depth
    return draw(PREFIXES) * depth + term


@st.composite
def long(draw: st.DrawFn) -> str:
    """Hundreds to thousands of terms, joined by AND/OR."""
    term = draw(TERMS)
    joiner = draw(st.sampled_from([" OR ", " AND ", " "]))
    # Past the 4,000-character cap, while the URL-encoded query fits the server's request line
    # (fuzz.sh sets none; under 16 KB here): a longer one never reaches the application.
    most = max(1, min(4400 // len(term + joiner), 14000 // len(quote(term + joiner))))
    count = draw(st.integers(min_value=min(100, most), max_value=most))
    return joiner.join([term] * count)


QUERIES = st.one_of(
    deep(),
    long(),
    TERMS,
    st.lists(TERMS, min_size=2, max_size=8).map(" AND ".join),
    st.text(max_size=200),
).filter(lambda q: len(quote(q)) < 15000)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("token")
    parser.add_argument("--examples", type=int, default=150)
    parser.add_argument("--seed", default="20261130")
    parser.add_argument("--budget-ms", type=int, default=3000)
    args = parser.parse_args()
    client = httpx.Client(
        base_url=args.url, headers={"Authorization": f"Bearer {args.token}"}, timeout=60
    )
    slack = 2.0  # seconds: the server's own work around the search, on a busy machine
    seen: dict[int, int] = {}

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(QUERIES)
    def check(q: str) -> None:
        started = time.monotonic()
        response = client.get("/api/v2/users", params={"q": q, "per_page": 5})
        took = time.monotonic() - started
        seen[response.status_code] = seen.get(response.status_code, 0) + 1
        assert response.status_code in (200, 400, 503), (response.status_code, response.text)
        if response.status_code != 200:
            body = response.json()
            assert set(body) >= {"statusCode", "error", "message", "errorCode"}, body
            assert body["statusCode"] == response.status_code, body
        assert took <= args.budget_ms / 1000 + slack, f"{took:.1f} s for a {len(q)}-char query"

    if args.seed != "random":
        check = seed(int(args.seed))(check)
    check()
    counts = ", ".join(f"{status}: {count}" for status, count in sorted(seen.items()))
    print(f"q fuzzing: {sum(seen.values())} queries, every answer as required ({counts})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
