"""A busy database, for tests: another connection holding locks longer than this one waits.

On SQLite the other connection holds the database's one write lock (`BEGIN IMMEDIATE`); on
PostgreSQL it holds ACCESS EXCLUSIVE locks on the tables named. `short_lock_waits` makes this
process's connections give up after a moment (SQLite's busy timeout, PostgreSQL's
`lock_timeout`), so the tests need not wait out the real timeout.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from django.db import connection
from django_tasks_db.models import DBTaskResult

from users.models import Job

# What a worker touches: its task rows and the jobs.
WORKER_TABLES = (DBTaskResult._meta.db_table, Job._meta.db_table)


@contextmanager
def short_lock_waits(seconds: float = 0.2) -> Iterator[None]:
    """Connections opened meanwhile wait at most `seconds` for a lock, then fail as a busy
    database does (OperationalError). Applies to every thread's new connection."""
    options: dict[str, Any] = connection.settings_dict.setdefault("OPTIONS", {})
    saved = dict(options)
    if connection.vendor == "sqlite":
        options["timeout"] = seconds
    else:
        options["options"] = f"-c lock_timeout={int(seconds * 1000)}"
    connection.close()
    try:
        yield
    finally:
        options.clear()
        options.update(saved)
        connection.close()


class Hold:
    """Another connection that takes the locks (`start`, returning once they are held), keeps
    them `seconds`, then lets go (`join` waits for that)."""

    def __init__(self, seconds: float, tables: Sequence[str] = WORKER_TABLES) -> None:
        self.seconds = seconds
        self.tables = tables
        self.held = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.error: BaseException | None = None

    def start(self) -> None:
        self.thread.start()
        assert self.held.wait(timeout=10), f"the locks were not taken: {self.error!r}"

    def join(self) -> None:
        self.thread.join(timeout=self.seconds + 10)

    def _hold(self) -> None:
        settings = connection.settings_dict
        try:
            if connection.vendor == "sqlite":
                lite = sqlite3.connect(settings["NAME"], isolation_level=None, timeout=10)
                lite.execute("BEGIN IMMEDIATE")
                self._keep()
                lite.execute("ROLLBACK")
                lite.close()
                return
            with psycopg.connect(
                dbname=settings["NAME"],
                user=settings.get("USER") or None,
                password=settings.get("PASSWORD") or None,
                host=settings.get("HOST") or None,
                port=settings.get("PORT") or None,
            ) as pg:
                pg.execute(f"LOCK TABLE {', '.join(self.tables)} IN ACCESS EXCLUSIVE MODE")
                self._keep()
                pg.rollback()
        except BaseException as error:  # shown by start()
            self.error = error
            raise

    def _keep(self) -> None:
        self.held.set()
        time.sleep(self.seconds)


@contextmanager
def held(seconds: float, tables: Sequence[str] = WORKER_TABLES) -> Iterator[Hold]:
    """The database held busy from now for `seconds` (or until the block ends, if later)."""
    hold = Hold(seconds, tables)
    hold.start()
    try:
        yield hold
    finally:
        hold.join()
