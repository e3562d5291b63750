"""Users of database connections created before the write path generated `name`, `nickname`
and `picture` (as Auth0 does: the email, its local part, its Gravatar URL) get them now, where
they have none and the tenant's deny list does not name them
(`users.metadata.defaults.generated_profile`, `users.services.users.GENERATING_STRATEGIES`).

This writes profile fields outside the write path, on purpose: the audit log records no
event for it (a migration cannot append to the hash chain), so docs/api.md says so. Each
changed user's `version` goes up by one (an `ETag` taken before no longer matches) and
its `updated_at` is now. Reversing it changes nothing: a generated value cannot be told
from one somebody set.
"""

from typing import Any

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps
from django.db.models import Q
from django.utils import timezone

from users.metadata.defaults import GENERATED_FIELDS, generated_profile

BATCH = 2000


def fill(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    User = apps.get_model("users", "User")
    Tenant = apps.get_model("users", "Tenant")
    deny_lists = {
        pk: frozenset(str(entry) for entry in deny_list or ())
        for pk, deny_list in Tenant.objects.values_list("pk", "deny_list")
    }
    missing = Q()
    for field in GENERATED_FIELDS:
        missing |= Q(**{f"{field}__isnull": True})
    candidates = User.objects.filter(
        missing, connection__strategy__in=["database", "custom"]
    ).exclude(email__isnull=True, phone_number__isnull=True, username__isnull=True)
    fields = ("email", "phone_number", "username", *GENERATED_FIELDS)
    now = timezone.now()
    last = 0
    while True:
        batch = list(
            candidates.filter(pk__gt=last)
            .order_by("pk")
            .only("pk", "tenant_id", "version", *fields)[:BATCH]
        )
        if not batch:
            return
        last = batch[-1].pk
        changed: list[Any] = []
        for user in batch:
            profile = {field: getattr(user, field) for field in fields}
            generated = generated_profile(profile, deny_lists.get(user.tenant_id, frozenset()))
            if generated:
                for field, value in generated.items():
                    setattr(user, field, value)
                user.version += 1
                user.updated_at = now
                changed.append(user)
        if changed:
            User.objects.bulk_update(
                changed, [*GENERATED_FIELDS, "version", "updated_at"], batch_size=500
            )


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0011_audit_chain_keys_and_no_truncate"),
    ]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop, elidable=True)]
