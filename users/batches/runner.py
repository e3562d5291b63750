"""The one loop behind every resumable batch (imports, bulk edits, batch reverts): a chunk
per transaction, a checkpoint saved in the chunk's own transaction, a dry run that rolls
every chunk back. And the reports those batches fill in.

`run_chunks` takes the next chunk after a position, does its work, and hands the report,
the position after the chunk and the chunk's failures to `checkpoint`, inside the chunk's
transaction: the chunk and its record commit (or vanish) together, so a run that stops
anywhere leaves whole chunks and a checkpoint that says exactly which.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Generic, Self, TypeVar

from django.db import connection, transaction

REPORTED_FAILURES = 1000  # failures kept in a report; the job's errors file has them all
SAMPLE_DIFFS = 5  # changes a bulk edit's report keeps as samples
BATCH_CHUNK = 500  # users (or events) per chunk of a bulk edit or batch revert

Failure = dict[str, Any]


@dataclasses.dataclass
class Report:
    """What a batch did so far. Saved as JSON with each checkpoint (`to_dict`) and read back
    to resume (`from_dict`); each kind of batch adds its own counts."""

    failed: int = 0
    dry_run: bool = False
    batch_id: str = ""
    failures: list[Failure] = dataclasses.field(default_factory=list)

    def fail(self, failure: Failure, chunk: list[Failure]) -> None:
        """Count a failure, add it to the chunk's, and keep the first ones in the report."""
        self.failed += 1
        chunk.append(failure)
        if len(self.failures) < REPORTED_FAILURES:
            self.failures.append(failure)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(**data)


@dataclasses.dataclass
class BatchReport(Report):
    """A bulk edit's or a batch revert's report: users (or changes) matched and changed, and
    a few sample diffs."""

    matched: int = 0
    changed: int = 0
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    # True when `changed` would tell how many users had some app_metadata value on a plan
    # that may not search app_metadata: then it is not shown (the plan gate).
    changed_hidden: bool = False

    def to_dict(self) -> dict[str, Any]:
        """As JSON: samples keep the event's seq, not the event."""
        data = super().to_dict()
        data["samples"] = [
            {"user_id": s["user_id"], "seq": s["event"].seq if s.get("event") else s.get("seq")}
            for s in self.samples
        ]
        return data


R = TypeVar("R", bound=Report)
P = TypeVar("P")
T = TypeVar("T")

# Called inside each chunk's transaction with the report so far, the position after the
# chunk (where a resumed run goes on from) and the chunk's failures. A dry run's chunks roll
# back, so its checkpoint is called after each one instead.
Checkpoint = Callable[[R, P, list[Failure]], None]


@dataclasses.dataclass(frozen=True)
class Chunk(Generic[T, P]):
    """The items of one chunk and the position after them."""

    items: Sequence[T]
    end: P


# Test hooks: called at the start of every chunk, inside its transaction, with the batch's
# kind and the chunk's number (0 for the first chunk of this run). A test plays a killed
# worker by raising SystemExit from one (no `except Exception` sees it, as with a real
# kill). Register them with `before_each_chunk`; production never does.
_chunk_hooks: list[Callable[[str, int], None]] = []


@contextmanager
def before_each_chunk(hook: Callable[[str, int], None]) -> Iterator[None]:
    """Run `hook(kind, number)` at the start of every chunk while the block runs (tests)."""
    _chunk_hooks.append(hook)
    try:
        yield
    finally:
        _chunk_hooks.remove(hook)


def _relax_commit() -> None:
    """On PostgreSQL, a chunk's commit does not wait for its WAL flush. A crash may then
    lose the last chunks committed, but each chunk's checkpoint is in the same transaction,
    so it is lost with it and a resumed run redoes exactly those chunks."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit = off")


def run_chunks(
    report: R,
    *,
    kind: str,
    start: P,
    next_chunk: Callable[[P], Chunk[T, P] | None],
    work: Callable[[Sequence[T]], list[Failure]],
    checkpoint: Checkpoint[R, P] | None = None,
    relax_commit: bool = False,
) -> R:
    """Run a batch from `start` to the end: `next_chunk(position)` gives the next chunk (None
    when done), `work(items)` does it, filling in `report`, and returns its failures. See the
    module docstring for the transactions; `relax_commit` trades the last chunks' durability
    for speed (`_relax_commit`)."""
    position = start
    number = 0
    while True:
        with transaction.atomic():
            if relax_commit:
                _relax_commit()
            chunk = next_chunk(position)
            if chunk is None:
                break
            for hook in _chunk_hooks:
                hook(kind, number)
            failures = work(chunk.items)
            position = chunk.end
            if report.dry_run:
                transaction.set_rollback(True)
            elif checkpoint is not None:
                checkpoint(report, position, failures)
        if report.dry_run and checkpoint is not None:
            checkpoint(report, position, failures)
        number += 1
    return report
