"""Background jobs: exports, imports, bulk edits and batch reverts, with progress you can
watch, checkpoints, and resume. Everything is importable from here.

- `control`: start a job (checking its input first), watch it, resume it.
- `tasks`: the task entry points a worker runs (thin schedulers over `users.batches`).
- `lifecycle`: a job's files, state transitions, errors file and checkpoints.
- `queue`: what the task queue says of a queued job (so none stays queued forever).
- `worker`: the worker `manage.py jobs_worker` runs, which outlives a busy database.
"""

from users.jobs.control import (
    bulk_edit_job_start,
    export_job_start,
    fail_stale,
    import_job_repeat,
    import_job_start,
    refresh,
    resumable,
    resume,
    revert_job_start,
)
from users.jobs.lifecycle import (
    FILE_LIFETIME,
    HEARTBEAT_EVERY,
    STALE_AFTER,
    JobReplaced,
    expired,
    job_path,
    prune_expired_files,
)
from users.jobs.queue import UNCLAIMED_AFTER
from users.jobs.tasks import RESUME_TASKS, run_bulk_edit, run_export, run_import, run_revert

__all__ = [
    "FILE_LIFETIME",
    "HEARTBEAT_EVERY",
    "RESUME_TASKS",
    "STALE_AFTER",
    "UNCLAIMED_AFTER",
    "JobReplaced",
    "bulk_edit_job_start",
    "expired",
    "export_job_start",
    "fail_stale",
    "import_job_repeat",
    "import_job_start",
    "job_path",
    "prune_expired_files",
    "refresh",
    "resumable",
    "resume",
    "revert_job_start",
    "run_bulk_edit",
    "run_export",
    "run_import",
    "run_revert",
]
