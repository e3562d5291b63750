"""Every write to tenants, memberships, API clients, applications, signing keys and users
goes through here (the one write path). One capability per module, all re-exported, so
callers write `from users import services` and `services.user_update(...)`:

- `errors`: the write path's refusals (`ServiceError` and its kinds), each a `Refusal`.
- `core`: the steps every user write shares (lock, version check, tier rule, assign, save,
  apply with leaves and audit events).
- `leaves`: the search leaves derived from a user's metadata, kept in step with it.
- `tenants`: tenants, their settings and plan, staff memberships.
- `api_clients`: Management API clients and their tokens.
- `applications`: applications end users sign in to (Auth0's clients) and their secrets.
- `signing_keys`: the tenants' token-signing keys (the current one, rotation).
- `users`: writes to one user (create, update, remove a key, block, delete).
- `users_many`: the same for many users at once (imports, bulk edits, seeding).
- `tier_keys`: an operator's edit of a tier saved as their changes, key by key.
- `sign_ins`: a sign-in's bookkeeping (and a stronger hash of an old one), the login log,
  brute-force counters and locks.
- `revert`: undo one recorded change.

Every call runs in one transaction; a refused call changes nothing and records nothing.
Many-user work that commits a chunk at a time (imports, bulk edits, batch reverts) lives in
`users.batches`, on top of these services.
"""

from users.services.api_clients import (
    API_TOKEN_PREFIX,
    api_client_create,
    api_client_revoke,
    api_token_hash,
)
from users.services.applications import (
    APPLICATION_SETTINGS,
    application_check_secret,
    application_create,
    application_delete,
    application_rotate_secret,
    application_secret_hash,
    application_update,
)
from users.services.core import END_USER_CHANNELS, STRIPPING_CHANNELS
from users.services.errors import (
    NotWritable,
    RevertConflict,
    ServiceError,
    UserExists,
    UserNotFound,
    VersionConflict,
)
from users.services.revert import REVERTIBLE_ACTIONS, audit_revert
from users.services.sign_ins import (
    BruteForcePolicy,
    client_ip,
    failure_subject,
    sign_in_failed,
    sign_in_locked,
    sign_in_log,
    sign_in_succeeded,
    sign_ins_prune,
    user_record_sign_in,
    user_sign_in_locks,
    user_store_rehashed_password,
    user_unblock_sign_ins,
)
from users.services.signing_keys import (
    signing_key_current,
    signing_key_rotate,
    signing_keys_published,
)
from users.services.tenants import (
    TENANT_SETTINGS,
    membership_set,
    tenant_create,
    tenant_set_plan,
    tenant_update,
)
from users.services.tier_keys import KeyClash, KeyConflict, user_update_tier_keys
from users.services.users import (
    BCRYPT_HASH,
    user_create,
    user_delete,
    user_delete_metadata_key,
    user_set_blocked,
    user_update,
)
from users.services.users_many import (
    SYSTEM_FIELDS,
    NewUser,
    UpdateOutcome,
    user_bulk_create,
    users_create_prepared,
    users_prepare,
    users_update_each,
)

__all__ = [
    "API_TOKEN_PREFIX",
    "APPLICATION_SETTINGS",
    "BCRYPT_HASH",
    "END_USER_CHANNELS",
    "REVERTIBLE_ACTIONS",
    "STRIPPING_CHANNELS",
    "SYSTEM_FIELDS",
    "TENANT_SETTINGS",
    "BruteForcePolicy",
    "KeyClash",
    "KeyConflict",
    "NewUser",
    "NotWritable",
    "RevertConflict",
    "ServiceError",
    "UpdateOutcome",
    "UserExists",
    "UserNotFound",
    "VersionConflict",
    "api_client_create",
    "api_client_revoke",
    "api_token_hash",
    "application_check_secret",
    "application_create",
    "application_delete",
    "application_rotate_secret",
    "application_secret_hash",
    "application_update",
    "audit_revert",
    "client_ip",
    "failure_subject",
    "membership_set",
    "sign_in_failed",
    "sign_in_locked",
    "sign_in_log",
    "sign_in_succeeded",
    "sign_ins_prune",
    "signing_key_current",
    "signing_key_rotate",
    "signing_keys_published",
    "tenant_create",
    "tenant_set_plan",
    "tenant_update",
    "user_bulk_create",
    "user_create",
    "user_delete",
    "user_delete_metadata_key",
    "user_record_sign_in",
    "user_set_blocked",
    "user_sign_in_locks",
    "user_store_rehashed_password",
    "user_unblock_sign_ins",
    "user_update",
    "user_update_tier_keys",
    "users_create_prepared",
    "users_prepare",
    "users_update_each",
]
