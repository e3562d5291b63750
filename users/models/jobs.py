"""Background jobs: their state, progress, checkpoint and result file."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from users.models.tenants import Tenant


@dataclasses.dataclass(frozen=True)
class JobActor:
    """Who a job writes as when that is not the staff member who started it (an API client)."""

    kind: str
    id: str
    label: str


@dataclasses.dataclass(frozen=True)
class JobParams:
    """What a job was asked to do, typed; stored as JSON in `Job.params` (see `to_json`).

    One shape for every kind: each kind reads the fields it needs (an export `q`, `columns`,
    `fmt`, `gzip`; an import `file_name`, `source`, `fmt`, `upsert`, `metadata_mode`,
    `dry_run`, `connection`; a bulk edit `q`, `tier`, `key`, `value`, `remove`; a revert
    `batch_id`). `actor` is who writes when not the staff member who started the job; `api`
    is what an API client named the job with, shown back to it.
    """

    q: str = ""
    columns: str | None = None
    fmt: str = ""
    gzip: bool = False
    file_name: str = ""
    source: str = ""
    upsert: bool = False
    metadata_mode: str = "replace"
    dry_run: bool = False
    connection: str = ""
    tier: str = ""
    key: str = ""
    value: Any = None
    remove: bool = False
    batch_id: str = ""
    actor: JobActor | None = None
    api: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """As stored: every field, except an absent actor, API naming, connection or source."""
        data = dataclasses.asdict(self)
        for name in ("actor", "api", "connection", "source"):
            if not data[name]:
                del data[name]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobParams:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {name: value for name, value in data.items() if name in known}
        actor = values.pop("actor", None)
        if isinstance(actor, Mapping):
            values["actor"] = JobActor(**actor)
        elif actor:  # stored by earlier versions as [kind, id, label]
            values["actor"] = JobActor(*actor)
        return cls(**values)


class Job(models.Model):
    """A background job (export, import, bulk edit, batch revert): its state, progress,
    checkpoint and result file."""

    class Kind(models.TextChoices):
        EXPORT = "export", "Export"
        IMPORT = "import", "Import"
        BULK_EDIT = "bulk_edit", "Bulk edit"
        REVERT = "revert", "Batch revert"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="jobs")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.EXPORT)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    params = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True)
    file_name = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    # The report so far and where to go on from; saved with each chunk, in its transaction.
    result = models.JSONField(default=dict, blank=True)
    # Raised by each resume: a run that finds another attempt number stops (it was replaced).
    attempt = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    heartbeat_at = models.DateTimeField(null=True)
    finished_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk} ({self.status})"

    @property
    def percent(self) -> int:
        if self.status == self.Status.SUCCEEDED:
            return 100
        return min(100, round(100 * self.done / self.total)) if self.total else 0

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def typed_params(self) -> JobParams:
        return JobParams.from_json(self.params)

    @property
    def started_by(self) -> str:
        """Who started it, as the audit log names actors (an API client, or staff)."""
        actor = self.typed_params.actor
        if actor is not None:
            return f"{actor.kind}:{actor.label}"
        return self.created_by.get_username() if self.created_by else "system"
