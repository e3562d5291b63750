"""The one format of a moment in what we hand out: API responses and export files alike."""

from __future__ import annotations

from datetime import UTC, datetime


def iso_millis(moment: datetime) -> str:
    """ISO 8601 in UTC with exactly three fractional digits and `Z`, as Auth0 writes times:
    `2026-11-30T12:00:00.000Z` (a zero fraction is kept; microseconds are cut, not rounded,
    so a time never moves into the next second)."""
    utc = moment.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
