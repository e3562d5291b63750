"""The keyed audit chain: which key each chain uses, `audit.rekey` events, and (PostgreSQL
only) TRUNCATE refused and the one UPDATE `audit_rekey` may make.

Existing chains get `key_id` "": they were hashed with plain SHA-256, and stay so until
`manage.py audit_rekey` verifies and re-keys them. New chains take the configured key's id
(the field's default, from then on).

PostgreSQL: the append-only trigger function of 0002 now lets an UPDATE through only while
`users.audit_rekey_tenant` (set with SET LOCAL by `audit_rekey`, for its transaction only)
names the row's tenant, and only if nothing but `hash` and `prev_hash` changes. DELETE stays
refused. A statement trigger refuses TRUNCATE (also when a TRUNCATE of another table
cascades to this one). SQLite has no TRUNCATE and no such triggers: no-ops there.
"""

from django.db import migrations, models
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

import users.audit_keys

FORWARD = """
CREATE OR REPLACE FUNCTION users_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.tenant_id::text = current_setting('users.audit_rekey_tenant', true)
           AND (to_jsonb(NEW) - 'hash' - 'prev_hash') = (to_jsonb(OLD) - 'hash' - 'prev_hash')
        THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'audit events are append-only: % on users_auditevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS users_auditevent_no_truncate ON users_auditevent;
CREATE TRIGGER users_auditevent_no_truncate
    BEFORE TRUNCATE ON users_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION users_auditevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS users_auditevent_no_truncate ON users_auditevent;

CREATE OR REPLACE FUNCTION users_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on users_auditevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _on_postgres(sql: str):  # type: ignore[no-untyped-def]
    def run(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("users", "0010_audit_actions_and_leaf_tiers_as_choices")]

    operations = [
        migrations.AddField(
            model_name="auditchain",
            name="key_id",
            field=models.CharField(blank=True, default="", max_length=32),
        ),
        migrations.AlterField(
            model_name="auditchain",
            name="key_id",
            field=models.CharField(
                blank=True, default=users.audit_keys.current_key_id, max_length=32
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="action",
            field=models.CharField(
                choices=[
                    ("tenant.create", "Tenant Create"),
                    ("tenant.update", "Tenant Update"),
                    ("membership.set", "Membership Set"),
                    ("api_client.create", "Api Client Create"),
                    ("api_client.revoke", "Api Client Revoke"),
                    ("user.create", "User Create"),
                    ("user.bulk_create", "User Bulk Create"),
                    ("user.update", "User Update"),
                    ("user.block", "User Block"),
                    ("user.unblock", "User Unblock"),
                    ("user.delete", "User Delete"),
                    ("user.revert", "User Revert"),
                    ("audit.rekey", "Audit Rekey"),
                ],
                max_length=40,
            ),
        ),
        migrations.RunPython(_on_postgres(FORWARD), _on_postgres(BACKWARD)),
    ]
