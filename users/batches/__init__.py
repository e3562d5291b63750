"""Many writes, a chunk per transaction, resumable: the import engine, bulk edit and batch
revert, all on one loop (`runner.run_chunks`) and one report type (`runner.Report`).

- `runner`: the loop, the reports, the checkpoint contract and the test hook.
- `imports`: the import engine (rows from `users.imports`' readers).
- `bulk_edit`: set or remove a key on every user a query matches, and its preview.
- `revert`: undo every change of a batch.

The job tasks (`users.jobs`) only schedule these and save their checkpoints.
"""

from users.batches.bulk_edit import bulk_edit_patch, users_bulk_edit, users_bulk_edit_preview
from users.batches.imports import ImportReport, RowError, import_users
from users.batches.revert import audit_revert_batch
from users.batches.runner import (
    REPORTED_FAILURES,
    SAMPLE_DIFFS,
    BatchReport,
    Checkpoint,
    Report,
    before_each_chunk,
    run_chunks,
)

__all__ = [
    "REPORTED_FAILURES",
    "SAMPLE_DIFFS",
    "BatchReport",
    "Checkpoint",
    "ImportReport",
    "Report",
    "RowError",
    "audit_revert_batch",
    "before_each_chunk",
    "bulk_edit_patch",
    "import_users",
    "run_chunks",
    "users_bulk_edit",
    "users_bulk_edit_preview",
]
