"""The domain's tables, one module per area; every model is importable from here.

Rows of `User` are written only by `users.services`; `AuditEvent` rows only by `users.audit`.
"""

from users.models.api import ApiClient, RateBucket, Scope
from users.models.applications import (
    DEFAULT_GRANTS,
    GRANT_SHORT_NAMES,
    Application,
    GrantType,
    SigningKey,
)
from users.models.audit import ActorKind, AuditAction, AuditChain, AuditEvent, Channel
from users.models.jobs import Job, JobActor, JobParams
from users.models.sign_ins import SignIn, SignInFailures, SignInOutcome
from users.models.tenants import (
    DATABASE_CONNECTION,
    Connection,
    Membership,
    Plan,
    Role,
    Strategy,
    Tenant,
)
from users.models.users import Identity, SearchLeaf, User, new_user_id

__all__ = [
    "DATABASE_CONNECTION",
    "DEFAULT_GRANTS",
    "GRANT_SHORT_NAMES",
    "ActorKind",
    "ApiClient",
    "Application",
    "AuditAction",
    "AuditChain",
    "AuditEvent",
    "Channel",
    "Connection",
    "GrantType",
    "Identity",
    "Job",
    "JobActor",
    "JobParams",
    "Membership",
    "Plan",
    "RateBucket",
    "Role",
    "Scope",
    "SearchLeaf",
    "SignIn",
    "SignInFailures",
    "SignInOutcome",
    "SigningKey",
    "Strategy",
    "Tenant",
    "User",
    "new_user_id",
]
