"""The one refusal type. Every layer's errors (metadata rules, the write path, search,
exports, imports, the API) subclass `Refusal`, so a caller that shows or returns a refusal
catches one type, and the API maps it in one handler.

Pure: no Django imports, so `users.metadata` can use it.
"""

from __future__ import annotations

from collections.abc import Sequence

Path = Sequence[str | int]


def format_path(path: Sequence[str | int]) -> str:
    """`("user_metadata", "a", 0)` -> `user_metadata.a[0]`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


class Refusal(Exception):
    """A request refused with a reason a person can act on; it changed nothing.

    `code` is the API error code, `status` the HTTP status, `message` what to tell the
    person, `path` where in the input it went wrong (empty when it is the input as a whole).
    Subclasses set `code` and `status` as class attributes; an instance may override both.
    """

    code = "invalid_body"
    status = 400

    def __init__(
        self,
        message: str,
        *,
        path: Path = (),
        code: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.path = tuple(path)
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status

    @property
    def path_str(self) -> str:
        return format_path(self.path)
