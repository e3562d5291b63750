"""Time budgets for the database work of searches, exports and bulk edits.

`time_budget(ms)` bounds everything the block asks of the database: each statement may run
only for what is left of the budget (PostgreSQL's `statement_timeout`, set before each
statement; SQLite's progress handler), and a statement that would start after the deadline
is not sent. Either way the block raises `QueryTooExpensive`. With `per_statement=True`
(background jobs) each statement gets the whole budget instead, and the block may run longer.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import DatabaseError, connection, transaction

from users.search.errors import QueryTooExpensive

# JIT compilation and parallel workers cost more than they save at interactive latencies.
_PLANNER = {"jit": "off", "max_parallel_workers_per_gather": "0"}


def _too_expensive(milliseconds: int) -> QueryTooExpensive:
    return QueryTooExpensive(
        f"This search took longer than {milliseconds:,} ms and was stopped. Narrow it "
        "(add a field, avoid leading wildcards) or sort by a root field."
    )


def _pg_set(raw: Any, values: dict[str, str]) -> dict[str, str]:
    """Set session settings on the raw connection (no Django wrappers); return the old ones.
    Like any SET, they are undone if the transaction they were set in rolls back."""
    names = list(values)
    reads = ", ".join("current_setting(%s)" for _ in names)
    writes = ", ".join("set_config(%s, %s, false)" for _ in names)
    params: list[str] = [*names]
    for name in names:
        params += [name, values[name]]
    row = raw.execute(f"SELECT {reads}, {writes}", params).fetchone()
    return dict(zip(names, row[: len(names)], strict=True))


@contextlib.contextmanager
def time_budget(milliseconds: int, *, per_statement: bool = False) -> Iterator[None]:
    """Bound the block's database work; QueryTooExpensive when it runs out (module doc)."""
    deadline = time.monotonic() + milliseconds / 1000
    vendor = connection.vendor
    connection.ensure_connection()
    raw = connection.connection

    # PostgreSQL's statement_timeout as last set. It is lowered to what is left only when it
    # would overrun the deadline by more than a tenth of the budget: most statements of a
    # quick search then cost no extra round trip, and the whole stays within 110%.
    timeout_set = {"ms": milliseconds}
    slack = max(1, milliseconds // 10)

    def before_each(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        if per_statement:
            return execute(sql, params, many, context)
        left = int((deadline - time.monotonic()) * 1000)
        if left <= 0:
            raise _too_expensive(milliseconds)
        if vendor == "postgresql" and timeout_set["ms"] - left > slack:
            raw.execute("SELECT set_config('statement_timeout', %s, false)", [f"{left}ms"])
            timeout_set["ms"] = left
        return execute(sql, params, many, context)

    previous: dict[str, str] = {}
    # Inside a transaction, a savepoint: a cancelled statement then rolls back only the block
    # (and its settings), and the enclosing transaction goes on. Not for a job's budget: a job
    # commits chunk by chunk, and a timeout ends the job.
    nested = connection.in_atomic_block and not per_statement
    savepoint = transaction.atomic() if nested else contextlib.nullcontext()
    try:
        with savepoint:
            if vendor == "postgresql":
                previous = _pg_set(raw, {"statement_timeout": f"{milliseconds}ms", **_PLANNER})
            elif vendor == "sqlite" and not per_statement:
                raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            with connection.execute_wrapper(before_each):
                yield
    except DatabaseError as error:
        text = str(error).lower()
        if "statement timeout" in text or "canceling statement" in text or "interrupted" in text:
            raise _too_expensive(milliseconds) from None
        raise
    finally:
        if vendor == "sqlite":
            raw.set_progress_handler(None, 0)
        elif previous:
            # In an aborted transaction this fails, and the rollback undoes the settings.
            with contextlib.suppress(Exception):
                _pg_set(raw, previous)


def budgeted(chunks: Iterator[bytes], milliseconds: int) -> Iterator[bytes]:
    """A stream (a download) whose database work runs under one budget while it streams."""
    with time_budget(milliseconds):
        yield from chunks
