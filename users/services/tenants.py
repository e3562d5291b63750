"""Tenants and the staff who run them: create a tenant, change its settings or plan, give
a staff account a role. Each call is one transaction and records one audit event (none when
nothing changed)."""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction

from users import audit
from users.audit import Context
from users.models import (
    DATABASE_CONNECTION,
    AuditAction,
    AuditChain,
    Connection,
    Membership,
    Strategy,
    Tenant,
)


@transaction.atomic
def tenant_create(
    *, slug: str, name: str = "", plan: str = "free", domain: str = "", by: Context
) -> Tenant:
    """A tenant with its database connection and an empty audit chain."""
    tenant = Tenant(slug=slug, name=name or slug, plan=plan, domain=domain)
    tenant.full_clean()
    tenant.save()
    Connection.objects.create(tenant=tenant, name=DATABASE_CONNECTION, strategy=Strategy.DATABASE)
    AuditChain.objects.create(tenant=tenant)
    audit.record(
        tenant=tenant,
        ctx=by,
        action=AuditAction.TENANT_CREATE,
        before={},
        after={
            "slug": tenant.slug,
            "name": tenant.name,
            "plan": tenant.plan,
            **({"domain": tenant.domain} if tenant.domain else {}),
        },
    )
    return tenant


TENANT_SETTINGS = (
    "name",
    "plan",
    "domain",
    "deny_list",
    "signup_fields",
    "user_metadata_schema",
    "app_metadata_schema",
    "metadata_max_bytes",
    "metadata_max_depth",
    "signup_reveals_existing_user",
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
    audit.record(
        tenant=tenant, ctx=by, action=AuditAction.TENANT_UPDATE, before=before, after=after
    )
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
        audit.record(
            tenant=tenant, ctx=by, action=AuditAction.MEMBERSHIP_SET, before=before, after=after
        )
    return membership
