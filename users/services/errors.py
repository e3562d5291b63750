"""The write path's refusals: each a `Refusal` with the API's code and status."""

from __future__ import annotations

from users.errors import Refusal


class ServiceError(Refusal):
    """A refused write. `code` is the API error code; `status` the HTTP status."""

    code = "invalid_body"
    status = 400


class UserNotFound(ServiceError):
    code = "inexistent_user"
    status = 404


class UserExists(ServiceError):
    code = "user_exists"
    status = 409


class VersionConflict(ServiceError):
    code = "precondition_failed"
    status = 412

    def __init__(self, *, expected: int, current: int) -> None:
        super().__init__(
            f"This user was changed by someone else (you had version {expected}, it is now "
            f"version {current}). Reload to see their change, then apply yours again."
        )
        self.expected = expected
        self.current = current


class NotWritable(ServiceError):
    code = "insufficient_scope"
    status = 403


class RevertConflict(ServiceError):
    code = "revert_conflict"
    status = 409
