"""What a database error means to whoever meets it: `is_busy` tells a lock that outlasted its
wait, after which the same work may well succeed in a moment, from every other failure."""

from __future__ import annotations

import sqlite3

# PostgreSQL's SQLSTATEs: lock_not_available (lock_timeout, NOWAIT), deadlock_detected,
# serialization_failure.
_POSTGRES_BUSY = frozenset({"55P03", "40P01", "40001"})
# SQLite's primary result codes (extended codes keep them in the low byte).
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})

# How long a client is asked to wait before trying again (HTTP Retry-After), in seconds.
RETRY_AFTER_SECONDS = 5


def is_busy(error: BaseException) -> bool:
    """Whether a database error (Django's, or the driver's it wraps) is a lock that outlasted
    the wait: SQLite's "database is locked" after its busy timeout, PostgreSQL's lock timeout,
    a deadlock or a serialization failure."""
    cause = error.__cause__ if error.__cause__ is not None else error
    if getattr(cause, "sqlstate", None) in _POSTGRES_BUSY:
        return True
    code = getattr(cause, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF in _SQLITE_BUSY:
        return True
    message = str(error).lower()
    return "database is locked" in message or "database table is locked" in message
