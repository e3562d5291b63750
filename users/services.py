"""Every write to tenants, memberships and users goes through here (DESIGN.md, "one write path").

Each call runs in one transaction: lock the row, check the expected version, apply the
rules of `users.metadata`, save with `version + 1`, and record one audit event. A refused
call changes nothing and records nothing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jsonpatch
import jsonpointer
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.db.models.fields.json import KeyTransform
from django.utils import timezone

from users import audit, metadata
from users.audit import Context
from users.bulk import datetime_adapter, insert_rows, insert_tuples
from users.models import (
    DATABASE_CONNECTION,
    ActorKind,
    ApiClient,
    AuditChain,
    AuditEvent,
    Channel,
    Connection,
    Identity,
    Membership,
    Scope,
    SearchLeaf,
    Strategy,
    Tenant,
    User,
    new_user_id,
)
from users.search.leaves import leaves as search_leaves

# Profile data from these channels is stripped of deny-listed attributes (SPEC.md section 9);
# an explicit write from any other channel is refused instead.
STRIPPING_CHANNELS = frozenset({Channel.SIGNUP, Channel.IMPORT, Channel.RULE})
# The end user may never write app_metadata, whatever the channel.
END_USER_CHANNELS = frozenset({Channel.SIGNUP, Channel.PROFILE})


class ServiceError(Exception):
    """A refused write. `code` is the API error code; `status` the HTTP status."""

    code = "invalid_body"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


# --- tenants and staff --------------------------------------------------------------------


@transaction.atomic
def tenant_create(*, slug: str, name: str = "", plan: str = "free", by: Context) -> Tenant:
    """A tenant with its database connection and an empty audit chain."""
    tenant = Tenant(slug=slug, name=name or slug, plan=plan)
    tenant.full_clean()
    tenant.save()
    Connection.objects.create(tenant=tenant, name=DATABASE_CONNECTION, strategy=Strategy.DATABASE)
    AuditChain.objects.create(tenant=tenant)
    audit.record(
        tenant=tenant,
        ctx=by,
        action="tenant.create",
        before={},
        after={"slug": tenant.slug, "name": tenant.name, "plan": tenant.plan},
    )
    return tenant


TENANT_SETTINGS = (
    "name",
    "plan",
    "deny_list",
    "signup_fields",
    "user_metadata_schema",
    "app_metadata_schema",
    "metadata_max_bytes",
    "metadata_max_depth",
)


@transaction.atomic
def tenant_update(*, tenant: Tenant, changed: Iterable[str], by: Context) -> Tenant:
    """Save the named settings of `tenant` (already assigned on it), audited as one change."""
    fields = [name for name in changed if name in TENANT_SETTINGS]
    stored = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = {name: getattr(stored, name) for name in fields}
    after = {name: getattr(tenant, name) for name in fields}
    if before == after:
        return tenant
    tenant.full_clean()
    tenant.save(update_fields=fields)
    audit.record(tenant=tenant, ctx=by, action="tenant.update", before=before, after=after)
    return tenant


def tenant_set_plan(*, tenant: Tenant, plan: str, by: Context) -> Tenant:
    """Change the plan; plan-gated features follow at once."""
    tenant.plan = plan
    return tenant_update(tenant=tenant, changed=["plan"], by=by)


@transaction.atomic
def membership_set(
    *, staff: AbstractBaseUser, tenant: Tenant, role: str, by: Context
) -> Membership:
    """Give a staff account a role in a tenant (or change it)."""
    membership = (
        Membership.objects.select_for_update().filter(staff_id=staff.pk, tenant=tenant).first()
    )
    before = {"staff": staff.get_username(), "role": membership.role} if membership else {}
    if membership is None:
        membership = Membership(staff_id=staff.pk, tenant=tenant, role=role)
    membership.role = role
    membership.full_clean(validate_unique=False)
    membership.save()
    after = {"staff": staff.get_username(), "role": role}
    if before != after:
        audit.record(tenant=tenant, ctx=by, action="membership.set", before=before, after=after)
    return membership


# --- API clients ------------------------------------------------------------------------

API_TOKEN_PREFIX = "mda_"


def api_token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (a token is random, so no salt is needed)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@transaction.atomic
def api_client_create(
    *, tenant: Tenant, name: str, scopes: Iterable[str], by: Context, staff_pk: int | None = None
) -> tuple[ApiClient, str]:
    """A new API client and its token. The token is returned this once and never stored."""
    wanted = sorted(set(scopes))
    unknown = [scope for scope in wanted if scope not in Scope.values]
    if unknown:
        raise ServiceError(
            f"Unknown scope(s): {', '.join(unknown)}. Scopes are: {', '.join(Scope.values)}."
        )
    if not wanted:
        raise ServiceError("Give the client at least one scope.")
    name = name.strip()
    if not name:
        raise ServiceError("Give the client a name.")
    if ApiClient.objects.filter(tenant=tenant, name=name).exists():
        raise ServiceError(f"This tenant already has an API client named {name!r}.")
    token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient(
        tenant=tenant,
        name=name,
        scopes=wanted,
        token_hash=api_token_hash(token),
        token_prefix=token[:10],
        created_by_id=staff_pk,
    )
    client.full_clean()
    client.save()
    audit.record(
        tenant=tenant,
        ctx=by,
        action="api_client.create",
        before={},
        after={"name": name, "scopes": wanted},
    )
    return client, token


@transaction.atomic
def api_client_revoke(*, client: ApiClient, by: Context) -> ApiClient:
    """Revoke a client: its token stops working at once. Revoking twice changes nothing."""
    locked = ApiClient.objects.select_for_update().get(pk=client.pk)
    if locked.revoked_at is not None:
        return locked
    locked.revoked_at = timezone.now()
    locked.save(update_fields=["revoked_at"])
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action="api_client.revoke",
        before={"name": locked.name, "revoked": False},
        after={"name": locked.name, "revoked": True},
    )
    return locked


# --- users --------------------------------------------------------------------------------


def _guard_tiers(body: Mapping[str, Any], by: Context) -> None:
    if metadata.APP_METADATA in body and (
        by.actor.kind == ActorKind.END_USER or by.channel in END_USER_CHANNELS
    ):
        raise NotWritable(
            "app_metadata can never be changed by the end user; only staff admins, "
            "API clients with update:users and rules may change it."
        )


def _on_denied(by: Context) -> metadata.DeniedMode:
    return "strip" if by.channel in STRIPPING_CHANNELS else "refuse"


def _lock(user: User) -> User:
    try:
        return (
            User.objects.select_for_update().select_related("tenant", "connection").get(pk=user.pk)
        )
    except User.DoesNotExist:
        raise UserNotFound(f"The user {user.user_id} does not exist (any more).") from None


def _check_version(user: User, expected_version: int | None) -> None:
    if expected_version is not None and expected_version != user.version:
        raise VersionConflict(expected=expected_version, current=user.version)


def _normalize_email(email: str | None, connection: Connection) -> str | None:
    if email is not None and connection.strategy == Strategy.DATABASE:
        return email.lower()
    return email


def _check_email_free(email: str | None, connection: Connection, *, exclude_pk: int | None) -> None:
    if email is None:
        return
    clash = User.objects.filter(connection=connection, email__lower=email.lower())
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise UserExists(f"A user with the email {email} already exists in {connection.name}.")


def _assign(user: User, update: metadata.Update) -> None:
    for key, value in update.profile.items():
        setattr(user, key, value)
    user.email = _normalize_email(user.email, user.connection)
    if update.password is not None:
        user.password = make_password(update.password)


def _save(user: User, *, creating: bool, unique_changed: bool = True) -> None:
    """Save, turning a clash on a unique field into UserExists. When no unique field
    changed (an update that leaves the email alone) nothing can clash: no savepoint."""
    if not unique_changed:
        user.save()
        return
    try:
        with transaction.atomic():
            user.save(force_insert=creating)
    except IntegrityError:
        if (
            User.objects.filter(tenant=user.tenant, user_id=user.user_id)
            .exclude(pk=user.pk)
            .exists()
        ):
            raise UserExists(f"A user with the user_id {user.user_id} already exists.") from None
        raise UserExists(
            f"A user with the email {user.email} already exists in {user.connection.name}."
        ) from None


_TIER_CODES = (
    (SearchLeaf.USER_METADATA, metadata.USER_METADATA),
    (SearchLeaf.APP_METADATA, metadata.APP_METADATA),
)


_LEAF_COLUMNS = (
    "tenant_id",
    "user_id",
    "tier",
    "path",
    "kind",
    "first",
    "text",
    "number",
    "moment",
)


def _leaf_rows(user: User, tiers: Iterable[str] = metadata.TIERS) -> list[tuple[Any, ...]]:
    """The user's search leaves as rows of `_LEAF_COLUMNS`."""
    adapt = datetime_adapter()
    return [
        (
            user.tenant_id,
            user.pk,
            code,
            leaf.path,
            leaf.kind,
            leaf.first,
            leaf.text,
            leaf.number,
            None if leaf.moment is None else adapt(leaf.moment),
        )
        for code, tier in _TIER_CODES
        if tier in tiers
        for leaf in search_leaves(getattr(user, tier))
    ]


def _details(update: metadata.Update, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {key: value for key, value in extra.items() if value}
    if update.dropped:
        details["dropped"] = list(update.dropped)
    if update.password is not None:
        details["password_changed"] = True
    return details


def _resolve_connection(
    tenant: Tenant, name: str | None, cache: dict[str, Connection] | None = None
) -> Connection:
    wanted = name or DATABASE_CONNECTION
    if cache is not None and wanted in cache:
        return cache[wanted]
    connection = Connection.objects.filter(tenant=tenant, name=wanted).first()
    if connection is None:
        raise ServiceError(f"The connection {wanted!r} does not exist in this tenant.")
    if cache is not None:
        cache[wanted] = connection
    return connection


def _full_user_id(given: str | None, connection: Connection) -> str:
    if given is None:
        return new_user_id(connection.provider)
    return given if "|" in given else f"{connection.provider}|{given}"


def _identity_for(user: User) -> Identity:
    provider, _, provider_user_id = user.user_id.partition("|")
    return Identity(
        user=user,
        connection=user.connection,
        provider=provider or user.connection.provider,
        provider_user_id=provider_user_id or user.user_id,
        is_social=user.connection.is_social,
    )


def _new_user(
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    *,
    rules: metadata.Rules,
    connections: dict[str, Connection] | None = None,
) -> tuple[User, metadata.Update]:
    _guard_tiers(body, by)
    update = metadata.prepare_create(body, rules, on_denied=_on_denied(by))
    connection = _resolve_connection(tenant, update.connection, connections)
    now = timezone.now()
    user = User(
        tenant=tenant,
        connection=connection,
        user_id=_full_user_id(update.user_id, connection),
        created_at=now,
        updated_at=now,
    )
    _assign(user, update)
    if connection.strategy == Strategy.DATABASE and not user.email:
        raise ServiceError("email is required for users of a database connection.")
    return user, update


BCRYPT_HASH = re.compile(r"^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$")


def _prepare_create(
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    *,
    password_hash: str | None,
    rules: metadata.Rules,
    connections: dict[str, Connection] | None = None,
) -> tuple[User, metadata.Update]:
    if password_hash is not None and not BCRYPT_HASH.match(password_hash):
        raise ServiceError("password_hash must be a bcrypt hash ($2a$, $2b$ or $2y$).")
    user, update = _new_user(tenant, body, by, rules=rules, connections=connections)
    if password_hash is not None:
        user.password = f"bcrypt${password_hash}"
    return user, update


def _create_event(user: User, update: metadata.Update) -> audit.Entry:
    return audit.Entry(
        action="user.create",
        before={},
        after=user.profile(),
        target=user,
        details=_details(update, connection=user.connection.name),
    )


@transaction.atomic
def user_create(
    *, tenant: Tenant, body: Mapping[str, Any], by: Context, password_hash: str | None = None
) -> User:
    """Create a user from an API-style body (`connection`, `email`, `password`, profile,
    both tiers whole, optionally `user_id`). `password_hash` (bcrypt, from an import)
    is stored as is, so the user keeps their password."""
    user, update = _prepare_create(
        tenant, body, by, password_hash=password_hash, rules=tenant.metadata_rules()
    )
    if User.objects.filter(tenant=tenant, user_id=user.user_id).exists():
        raise UserExists(f"A user with the user_id {user.user_id} already exists.")
    _check_email_free(user.email, user.connection, exclude_pk=None)
    _save(user, creating=True)
    _identity_for(user).save()
    insert_tuples(SearchLeaf, _LEAF_COLUMNS, _leaf_rows(user))
    audit.record_many(tenant=tenant, ctx=by, entries=[_create_event(user, update)])
    return user


@dataclasses.dataclass(frozen=True)
class NewUser:
    """A user checked by `users_prepare`, ready for `users_create_prepared`."""

    user: User
    update: metadata.Update


def users_prepare(
    *,
    tenant: Tenant,
    body: Mapping[str, Any],
    by: Context,
    password_hash: str | None = None,
    rules: metadata.Rules,
    connections: dict[str, Connection],
) -> NewUser:
    """Check one user to create exactly as `user_create` would, without writing; raises
    the same errors. `rules` and `connections` are shared across the calls of a batch."""
    user, update = _prepare_create(
        tenant, body, by, password_hash=password_hash, rules=rules, connections=connections
    )
    return NewUser(user, update)


@transaction.atomic
def users_create_prepared(*, tenant: Tenant, new: Sequence[NewUser], by: Context) -> list[User]:
    """Create prepared users in a few statements, each recorded as its own `user.create`
    event, as `user_create` would. All or nothing: if any user_id or email is taken
    (checked first, and again by the database's constraints), UserExists and nothing is
    created. The batch path of imports."""
    users = [item.user for item in new]
    if not users:
        return []
    ids = [user.user_id for user in users]
    if len(set(ids)) != len(ids) or User.objects.filter(tenant=tenant, user_id__in=ids).exists():
        raise UserExists("Some user_ids of this batch are taken; nothing was created.")
    by_connection: dict[int, list[str]] = {}
    for user in users:
        if user.email is not None:
            by_connection.setdefault(user.connection.pk, []).append(user.email.lower())
    for connection_pk, emails in by_connection.items():
        taken = User.objects.filter(connection_id=connection_pk, email__lower__in=emails)
        if len(set(emails)) != len(emails) or taken.exists():
            raise UserExists("Some emails of this batch are taken; nothing was created.")
    _insert_users(tenant, users)
    audit.record_many(tenant=tenant, ctx=by, entries=[_create_event(i.user, i.update) for i in new])
    return users


def _insert_users(tenant: Tenant, users: Sequence[User]) -> None:
    """INSERT new users (their pks are set), their identities and search leaves, in a few
    statements; UserExists, and nothing inserted, if a user_id or an email is taken."""
    try:
        with transaction.atomic():
            insert_rows(users)
    except IntegrityError:
        raise UserExists(
            "Some users of this batch already exist (same user_id, or same email in a "
            "connection); nothing was created."
        ) from None
    ids = [user.user_id for user in users]
    pks = dict(User.objects.filter(tenant=tenant, user_id__in=ids).values_list("user_id", "pk"))
    for user in users:
        user.pk = pks[user.user_id]
        user._state.adding = False
    insert_rows([_identity_for(user) for user in users])
    insert_tuples(SearchLeaf, _LEAF_COLUMNS, (row for user in users for row in _leaf_rows(user)))


# Read-only attributes a bulk load may carry over from another system.
SYSTEM_FIELDS = frozenset({"created_at", "updated_at", "last_login", "last_ip", "logins_count"})


@transaction.atomic
def user_bulk_create(
    *,
    tenant: Tenant,
    bodies: Sequence[Mapping[str, Any]],
    by: Context,
    system_fields: Sequence[Mapping[str, Any]] | None = None,
) -> list[User]:
    """Create many users at once, each validated like `user_create`, recorded as ONE audit
    event (action `user.bulk_create`) with a batch id.

    For seeding and loading: passwords are refused here (hashing is deliberately slow).
    `system_fields[i]` may carry read-only attributes of row i (SYSTEM_FIELDS) from another
    system. Any invalid row refuses the whole batch.
    """
    rules = tenant.metadata_rules()
    connections: dict[str, Connection] = {}
    users: list[User] = []
    seen: set[str] = set()
    for index, body in enumerate(bodies):
        if "password" in body:
            raise ServiceError(f"Row {index}: bulk creation does not take passwords.")
        try:
            user, _ = _new_user(tenant, body, by, rules=rules, connections=connections)
        except metadata.MetadataError as error:
            raise type(error)(f"Row {index}: {error.message}", path=(index, *error.path)) from error
        extra = system_fields[index] if system_fields else {}
        unknown = set(extra) - SYSTEM_FIELDS
        if unknown:
            raise ServiceError(f"Row {index}: {', '.join(sorted(unknown))} cannot be loaded.")
        for key, value in extra.items():
            setattr(user, key, value)
        if user.user_id in seen:
            raise UserExists(f"Row {index}: the user_id {user.user_id} is in the batch twice.")
        seen.add(user.user_id)
        users.append(user)
    if not users:
        return []
    _insert_users(tenant, users)
    batch_ctx = by if by.batch_id else dataclasses.replace(by, batch_id=uuid.uuid4())
    audit.record(
        tenant=tenant,
        ctx=batch_ctx,
        action="user.bulk_create",
        before={},
        after={},
        details={
            "count": len(users),
            "first_user_id": users[0].user_id,
            "last_user_id": users[-1].user_id,
        },
    )
    return users


@dataclasses.dataclass(frozen=True)
class _Change:
    """One locked user and the update to apply to it (for `_apply_many`)."""

    user: User
    update: metadata.Update
    details: Mapping[str, Any] | None = None


def _apply(
    locked: User,
    update: metadata.Update,
    *,
    by: Context,
    action: str,
    details: Mapping[str, Any] | None = None,
) -> User:
    _apply_many([_Change(locked, update, details)], by=by, action=action)
    return locked


def _apply_many(changes: Sequence[_Change], *, by: Context, action: str) -> list[AuditEvent]:
    """Apply updates to locked users of one tenant: assign, version + 1, save, rewrite the
    search leaves of the tiers that changed, and record one event each. Users an update
    leaves as they were are not touched. One user is saved as itself; many (a bulk edit's
    chunk) in one UPDATE, with their leaves and events also written together."""
    applied: list[tuple[User, dict[str, Any], dict[str, Any], _Change]] = []
    for change in changes:
        locked = change.user
        before = locked.profile()
        _assign(locked, change.update)
        after = locked.profile()
        if before == after and change.update.password is None:
            continue
        email_changed = after.get("email") != before.get("email")
        if email_changed:
            _check_email_free(locked.email, locked.connection, exclude_pk=locked.pk)
        locked.version += 1
        locked.updated_at = timezone.now()
        if len(changes) == 1:
            _save(locked, creating=False, unique_changed=email_changed)
        applied.append((locked, before, after, change))
    if not applied:
        return []
    if len(changes) > 1:
        fields = {"version", "updated_at"} | {
            name
            for _, before, after, change in applied
            for name in before
            if before[name] != after[name]
        }
        if any(change.update.password is not None for *_, change in applied):
            fields.add("password")
        try:
            with transaction.atomic():
                User.objects.bulk_update([user for user, *_ in applied], sorted(fields))
        except IntegrityError:
            raise UserExists("An email in this batch is taken; nothing was changed.") from None
    for code, tier in _TIER_CODES:
        pks = [user.pk for user, before, after, _ in applied if before[tier] != after[tier]]
        if pks:
            SearchLeaf.objects.filter(user_id__in=pks, tier=code).delete()
    insert_tuples(
        SearchLeaf,
        _LEAF_COLUMNS,
        (
            row
            for user, before, after, _ in applied
            for row in _leaf_rows(user, [t for t in metadata.TIERS if before[t] != after[t]])
        ),
    )
    return audit.record_many(
        tenant=applied[0][0].tenant,
        ctx=by,
        entries=[
            audit.Entry(
                action=action,
                before=before,
                after=after,
                target=user,
                details={**_details(change.update), **(change.details or {})},
            )
            for user, before, after, change in applied
        ],
    )


def _prepare_update(
    locked: User,
    body: Mapping[str, Any],
    rules: metadata.Rules,
    mode: metadata.MergeMode,
    by: Context,
) -> metadata.Update:
    update = metadata.apply_update(
        locked.profile(), body, rules, mode=mode, on_denied=_on_denied(by)
    )
    if update.connection is not None and update.connection != locked.connection.name:
        raise ServiceError(
            f"This user belongs to {locked.connection.name!r}, not {update.connection!r}; "
            "a user cannot move between connections."
        )
    return update


@transaction.atomic
def user_update(
    *,
    user: User,
    body: Mapping[str, Any],
    by: Context,
    mode: metadata.MergeMode = "merge",
    expected_version: int | None = None,
) -> User:
    """Apply a PATCH-style body: root attributes replace, each tier merges at the first
    level (`mode="merge"`, SPEC.md section 4) or is replaced whole (`mode="replace"`).

    A call that changes nothing writes nothing and records nothing.
    """
    _guard_tiers(body, by)
    locked = _lock(user)
    _check_version(locked, expected_version)
    update = _prepare_update(locked, body, locked.tenant.metadata_rules(), mode, by)
    details = {"mode": mode} if mode != "merge" else None
    return _apply(locked, update, by=by, action="user.update", details=details)


UpdateOutcome = AuditEvent | None | ServiceError | metadata.MetadataError


@transaction.atomic
def users_update_each(
    *,
    tenant: Tenant,
    items: Sequence[tuple[User, Mapping[str, Any]]],
    by: Context,
    mode: metadata.MergeMode = "merge",
) -> list[UpdateOutcome]:
    """`user_update` for many users of a tenant at once (a bulk edit's chunk, an import's
    upserts): each body is checked on its own, and the accepted ones are written together.
    Per item: its event, None when it changed nothing, or the error that refused it (that
    user is left as it was). If an accepted email is taken, UserExists and nothing changes."""
    rules = tenant.metadata_rules()
    pks = [user.pk for user, _ in items]
    locked = {
        user.pk: user
        for user in User.objects.select_for_update()
        .select_related("tenant", "connection")
        .filter(tenant=tenant, pk__in=pks)
        .order_by("pk")
    }
    outcomes: list[UpdateOutcome] = []
    changes: list[_Change] = []
    details = {"mode": mode} if mode != "merge" else None
    for user, body in items:
        current = locked.get(user.pk)
        try:
            if current is None:
                raise UserNotFound(f"The user {user.user_id} does not exist (any more).")
            _guard_tiers(body, by)
            changes.append(
                _Change(current, _prepare_update(current, body, rules, mode, by), details)
            )
            outcomes.append(None)
        except (ServiceError, metadata.MetadataError) as error:
            outcomes.append(error)
    events = {event.target_pk: event for event in _apply_many(changes, by=by, action="user.update")}
    return [
        events.get(user.pk) if outcome is None else outcome
        for (user, _), outcome in zip(items, outcomes, strict=True)
    ]


def user_delete_metadata_key(
    *, user: User, tier: str, key: str, by: Context, expected_version: int | None = None
) -> User:
    """Remove one first-level key of a tier; refuses a key that is not there."""
    if tier not in metadata.TIERS:
        raise ServiceError(f"{tier!r} is not a metadata tier.")
    with transaction.atomic():
        locked = _lock(user)
        metadata.delete_key(getattr(locked, tier), key, tier=tier)
        return user_update(
            user=locked, body={tier: {key: None}}, by=by, expected_version=expected_version
        )


@transaction.atomic
def user_set_blocked(
    *, user: User, blocked: bool, by: Context, expected_version: int | None = None
) -> User:
    locked = _lock(user)
    _check_version(locked, expected_version)
    update = metadata.apply_update(locked.profile(), {"blocked": blocked})
    return _apply(locked, update, by=by, action="user.block" if blocked else "user.unblock")


@transaction.atomic
def user_delete(*, user: User, by: Context, expected_version: int | None = None) -> None:
    locked = _lock(user)
    _check_version(locked, expected_version)
    before = locked.profile()
    audit.record(
        tenant=locked.tenant,
        ctx=by,
        action="user.delete",
        before=before,
        after={},
        target=locked,
        details={"connection": locked.connection.name},
    )
    locked.delete()


# --- revert -------------------------------------------------------------------------------

_REVERTIBLE_UPDATES = frozenset({"user.update", "user.block", "user.unblock", "user.revert"})
# Every action `audit_revert` can undo; the console shows Revert only on these.
REVERTIBLE_ACTIONS = _REVERTIBLE_UPDATES | {"user.create", "user.delete"}


def _reverted_profile(current: dict[str, Any], event: AuditEvent) -> dict[str, Any]:
    """The current profile with the event's change undone, or RevertConflict when the
    paths it touched have changed since (the event replayed on the result must give back
    exactly the current profile)."""
    touched = sorted({op["path"] for op in event.forward_patch})
    conflict = RevertConflict(
        f"Cannot revert change #{event.seq}: what it changed ({', '.join(touched)}) has "
        "changed since. Edit the user instead."
    )
    try:
        reverted = jsonpatch.apply_patch(current, event.inverse_patch)
        replayed = jsonpatch.apply_patch(reverted, event.forward_patch)
    except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException):
        raise conflict from None
    if replayed != current:
        raise conflict
    return reverted


def _lock_target(event: AuditEvent) -> User:
    user = User.objects.filter(pk=event.target_pk or 0, tenant_id=event.tenant_id).first()
    if user is None:
        raise RevertConflict(
            f"Cannot revert change #{event.seq}: the user {event.target_user_id} has been deleted."
        )
    return _lock(user)


@transaction.atomic
def audit_revert(*, event: AuditEvent, by: Context) -> AuditEvent:
    """Undo one recorded change as a new audited change; refuses clearly on conflict."""
    tenant = event.tenant
    if event.action in _REVERTIBLE_UPDATES:
        locked = _lock_target(event)
        reverted = _reverted_profile(locked.profile(), event)
        update = metadata.apply_update(
            locked.profile(), reverted, tenant.metadata_rules(), mode="replace"
        )
        _apply(locked, update, by=by, action="user.revert", details={"reverts": event.seq})
    elif event.action == "user.create":
        locked = _lock_target(event)
        _reverted_profile(locked.profile(), event)
        user_delete(user=locked, by=by)
    elif event.action == "user.delete":
        snapshot = _reverted_profile({}, event)
        if User.objects.filter(tenant=tenant, user_id=event.target_user_id).exists():
            raise RevertConflict(
                f"Cannot revert change #{event.seq}: a user {event.target_user_id} exists again."
            )
        body = {
            **{key: value for key, value in snapshot.items() if value is not None},
            "user_id": event.target_user_id,
            "connection": event.details.get("connection", DATABASE_CONNECTION),
        }
        user_create(tenant=tenant, body=body, by=by)
    else:
        raise RevertConflict(f"Changes of kind {event.action} cannot be reverted.")
    return AuditEvent.objects.filter(tenant=tenant).order_by("-seq").first()  # type: ignore[return-value]


# --- batches --------------------------------------------------------------------------------


@dataclasses.dataclass
class BatchReport:
    """What a batch operation did: counts, a few sample diffs, and the rows it refused."""

    matched: int = 0
    changed: int = 0
    failed: int = 0
    dry_run: bool = False
    batch_id: str = ""
    samples: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    failures: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    def fail(self, failure: dict[str, Any], chunk: list[dict[str, Any]]) -> None:
        self.failed += 1
        chunk.append(failure)
        if len(self.failures) < REPORTED_FAILURES:
            self.failures.append(failure)

    def to_dict(self) -> dict[str, Any]:
        """As JSON (for a job's checkpoint): samples keep the event's seq, not the event."""
        data = dataclasses.asdict(self)
        data["samples"] = [
            {"user_id": s["user_id"], "seq": s["event"].seq if s.get("event") else s.get("seq")}
            for s in self.samples
        ]
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BatchReport:
        return cls(**data)


# Called after each chunk of a batch, inside its transaction (a chunk and its checkpoint
# commit together), with the report so far, where to go on from, and the chunk's failures.
BatchCheckpoint = Callable[[BatchReport, int, list[dict[str, Any]]], None]


SAMPLE_DIFFS = 5
REPORTED_FAILURES = 1000
BATCH_CHUNK = 500


def bulk_edit_patch(
    tenant: Tenant, tier: str, key: str, value: Any, remove: bool
) -> dict[str, Any]:
    """The body a bulk edit applies to each user, checked against the tenant's rules."""
    if tier not in metadata.TIERS:
        raise ServiceError(f"{tier!r} is not a metadata tier.")
    if not remove and value is None:
        raise ServiceError("Give a value to set, or remove the key.")
    patch = {tier: {key: None if remove else value}}
    metadata.apply_update(metadata.empty_profile(), patch, tenant.metadata_rules())
    return patch


def users_bulk_edit(
    *,
    tenant: Tenant,
    users: QuerySet[User],
    tier: str,
    key: str,
    value: Any = None,
    remove: bool = False,
    by: Context,
    dry_run: bool = False,
    resume: BatchReport | None = None,
    after_pk: int = 0,
    checkpoint: BatchCheckpoint | None = None,
) -> BatchReport:
    """Set (or remove) one first-level key of a tier on every given user, each through
    `user_update`, all under one batch id so the whole edit can be reverted as one.

    Users are taken in id order, a chunk per transaction; after each chunk `checkpoint` gets
    the last id done, so an interrupted edit goes on with `after_pk` and `resume` (same batch
    id). A user whose update is refused is reported and left as it was; a dry run rolls back.
    """
    patch = bulk_edit_patch(tenant, tier, key, value, remove)
    report = resume or BatchReport(dry_run=dry_run, batch_id=str(uuid.uuid4()))
    ctx = dataclasses.replace(by, batch_id=uuid.UUID(report.batch_id))
    last = after_pk
    while True:
        with transaction.atomic():
            # A chunk at a time, by id (rows are rewritten as we go, which a live cursor on
            # SQLite may not survive), locked together, in id order like every batch.
            pending = users.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)
            ids = list(pending[:BATCH_CHUNK])
            if not ids:
                break
            failures: list[dict[str, Any]] = []
            _bulk_edit_chunk(tenant, ids, patch, ctx, report, failures)
            last = ids[-1]
            if dry_run:
                transaction.set_rollback(True)
            elif checkpoint is not None:
                checkpoint(report, last, failures)
        if dry_run and checkpoint is not None:
            checkpoint(report, last, failures)
    return report


def _bulk_edit_chunk(
    tenant: Tenant,
    ids: list[int],
    patch: dict[str, Any],
    ctx: Context,
    report: BatchReport,
    failures: list[dict[str, Any]],
) -> None:
    """Apply the patch to a chunk of users, written together; a user the rules refuse is
    reported and left as it was."""
    users = list(
        User.objects.filter(tenant=tenant, pk__in=ids).only("pk", "user_id").order_by("pk")
    )
    outcomes = users_update_each(tenant=tenant, items=[(user, patch) for user in users], by=ctx)
    for user, outcome in zip(users, outcomes, strict=True):
        report.matched += 1
        if isinstance(outcome, AuditEvent):
            report.changed += 1
            if len(report.samples) < SAMPLE_DIFFS:
                report.samples.append({"user_id": user.user_id, "event": outcome})
        elif outcome is not None:
            report.fail({"user_id": user.user_id, "message": outcome.message}, failures)


def users_bulk_edit_preview(
    *,
    tenant: Tenant,
    users: QuerySet[User],
    tier: str,
    key: str,
    value: Any = None,
    remove: bool = False,
    by: Context,
) -> BatchReport:
    """What a bulk edit would do, quickly at any size: how many users match, how many would
    change (those whose key is not already the value, or that have the key to remove), and
    the diffs of the first few, from a dry run of just those. Writes nothing."""
    bulk_edit_patch(tenant, tier, key, value, remove)
    current = KeyTransform(key, tier)
    if remove:
        changing = users.filter(**{f"{tier}__has_key": key})
    else:
        same = users.alias(bulk_current=current).filter(bulk_current=value)
        changing = users.exclude(pk__in=same.values("pk"))
    first = list(changing.order_by("pk").values_list("pk", flat=True)[:SAMPLE_DIFFS])
    sampled = users_bulk_edit(
        tenant=tenant,
        users=User.objects.filter(pk__in=first),
        tier=tier,
        key=key,
        value=value,
        remove=remove,
        by=by,
        dry_run=True,
    )
    return BatchReport(
        matched=users.count(),
        changed=changing.count(),
        dry_run=True,
        samples=sampled.samples,
        failures=sampled.failures,
        failed=sampled.failed,
    )


def audit_revert_batch(
    *,
    tenant: Tenant,
    batch_id: uuid.UUID,
    by: Context,
    resume: BatchReport | None = None,
    before_seq: int | None = None,
    checkpoint: BatchCheckpoint | None = None,
) -> BatchReport:
    """Revert every change of a batch (an import, a bulk edit), newest first, each on its
    own; changes that conflict are reported and left alone. The reverts form a new batch.
    Runs a chunk per transaction; `checkpoint` gets the last seq done, so an interrupted
    revert goes on with `before_seq` and `resume`."""
    events = AuditEvent.objects.filter(tenant=tenant, batch_id=batch_id)
    if resume is None and not events.exists():
        raise RevertConflict("No changes have that batch id.")
    report = resume or BatchReport(batch_id=str(uuid.uuid4()))
    ctx = dataclasses.replace(by, batch_id=uuid.UUID(report.batch_id))
    while True:
        with transaction.atomic():
            pending = events.filter(seq__lt=before_seq) if before_seq is not None else events
            chunk = list(pending.order_by("-seq")[:BATCH_CHUNK])
            if not chunk:
                break
            failures: list[dict[str, Any]] = []
            for event in chunk:
                report.matched += 1
                try:
                    with transaction.atomic():
                        audit_revert(event=event, by=ctx)
                except (RevertConflict, metadata.MetadataError, ServiceError) as error:
                    failure = {
                        "seq": event.seq,
                        "user_id": event.target_user_id,
                        "message": error.message,
                    }
                    report.fail(failure, failures)
                else:
                    report.changed += 1
            before_seq = chunk[-1].seq
            if checkpoint is not None:
                checkpoint(report, before_seq, failures)
    return report
