"""An audit event's change as a person reads it: one line per path, with before and after."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from users.models import AuditEvent


@dataclass(frozen=True)
class Change:
    """One line of a readable diff: what was at `path` before and after."""

    op: str
    path: str
    before: Any = None
    after: Any = None

    @property
    def before_json(self) -> str:
        return json.dumps(self.before, ensure_ascii=False, sort_keys=True)

    @property
    def after_json(self) -> str:
        return json.dumps(self.after, ensure_ascii=False, sort_keys=True)


def _dotted(pointer: str) -> str:
    parts = [part.replace("~1", "/").replace("~0", "~") for part in pointer.split("/")[1:]]
    return ".".join(parts)


def describe(event: AuditEvent) -> list[Change]:
    return describe_patches(event.forward_patch, event.inverse_patch)


def describe_patches(forward: list[dict[str, Any]], inverse: list[dict[str, Any]]) -> list[Change]:
    """A forward patch as readable changes, with the old values taken from its inverse."""
    old_values = {op["path"]: op.get("value") for op in inverse if "value" in op}
    changes = []
    for op in forward:
        kind = op["op"]
        before = old_values.get(op["path"]) if kind in ("replace", "remove") else None
        changes.append(Change(kind, _dotted(op["path"]), before, op.get("value")))
    return changes
