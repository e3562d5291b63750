"""The worker `manage.py jobs_worker` runs: django-tasks-db's `db_worker` loop, made to outlive
a busy or briefly unreachable database.

django-tasks-db forgives a locked database only while it looks for a task. A lock met when
its transaction begins or commits, a dropped connection, or a failure to record a task's
outcome (it retries for a third of a second) escapes its loop and ends the process, and
every job queued after that waits forever. Here such an error (`OperationalError`,
`InterfaceError`) is logged, every connection is dropped, and the loop starts again after
a pause that doubles from FIRST_PAUSE to LONGEST_PAUSE. A task whose outcome could not be
recorded is recorded as failed (with its own error) as soon as the database answers again,
so its job shows why (`users.jobs.queue`). Any other error still ends the worker: it is a
bug to see, not weather to wait out.
"""

from __future__ import annotations

import logging
import time
from contextlib import suppress
from typing import Any

from django.db import InterfaceError, OperationalError, connections
from django_tasks_db.management.commands import db_worker
from django_tasks_db.models import DBTaskResult

logger = logging.getLogger(__name__)

# What a database does for a while: locks held past the wait, connections dropped.
TRANSIENT = (OperationalError, InterfaceError)
TaskRow = DBTaskResult[..., Any]
FIRST_PAUSE = 0.5  # seconds
LONGEST_PAUSE = 30.0


def drop_connections() -> None:
    """Close every database connection of this thread; the next query opens a fresh one."""
    for connection in connections.all(initialized_only=True):
        with suppress(*TRANSIENT):  # already broken: it is dropped all the same
            connection.close()


def _being_recorded(error: BaseException) -> BaseException:
    """The error that was being handled (recorded) when `error` came: the context of its
    driver's error (Django raises its own from the driver's), or else its own."""
    raised = error.__cause__ if error.__cause__ is not None else error
    return raised.__context__ if raised.__context__ is not None else error


class Worker(db_worker.Worker):
    """`db_worker`'s worker, which waits out transient database errors instead of dying."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        # A task that ran but whose outcome the database refused to record, with its error.
        self.unrecorded: tuple[TaskRow, BaseException] | None = None

    def run(self) -> None:
        pause = FIRST_PAUSE
        while self.running:
            began = time.monotonic()
            try:
                self.record_unrecorded()
                super().run()
                return
            except TRANSIENT as error:
                if time.monotonic() - began > LONGEST_PAUSE:  # it had been going well
                    pause = FIRST_PAUSE
                logger.warning(
                    "Worker %s: the database failed (%s: %s); going on in %.1f s.",
                    self.worker_id,
                    type(error).__name__,
                    error,
                    pause,
                )
                drop_connections()
                self.startup_delay = False
                time.sleep(pause)  # a signal now ends the worker at once (no task runs)
                pause = min(pause * 2, LONGEST_PAUSE)

    def run_task(self, db_task_result: TaskRow) -> None:
        try:
            super().run_task(db_task_result)
        except TRANSIENT as error:
            # The task ran (or failed), but recording how failed too: keep the error that was
            # being recorded when this one came, to record once the database answers.
            self.unrecorded = (db_task_result, _being_recorded(error))
            raise

    def record_unrecorded(self) -> None:
        """Record as failed the task whose outcome could not be recorded, if any."""
        if self.unrecorded is None:
            return
        result, error = self.unrecorded
        result.set_failed(error)
        logger.warning(
            "Worker %s: task %s recorded as failed: %s", self.worker_id, result.id, error
        )
        self.unrecorded = None
