"""PostgreSQL only: GIN indexes on both metadata tiers, and the append-only audit table.

On SQLite these are no-ops: SQLite has no GIN, and the audit log there relies on the code
path alone (`users.audit` never updates or deletes an event).
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

FORWARD = """
CREATE INDEX IF NOT EXISTS user_user_metadata_gin ON users_user USING gin (user_metadata jsonb_ops);
CREATE INDEX IF NOT EXISTS user_app_metadata_gin ON users_user USING gin (app_metadata jsonb_ops);

CREATE OR REPLACE FUNCTION users_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only: % on users_auditevent is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

DROP TRIGGER IF EXISTS users_auditevent_append_only ON users_auditevent;
CREATE TRIGGER users_auditevent_append_only
    BEFORE UPDATE OR DELETE ON users_auditevent
    FOR EACH ROW EXECUTE FUNCTION users_auditevent_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS users_auditevent_append_only ON users_auditevent;
DROP FUNCTION IF EXISTS users_auditevent_append_only();
DROP INDEX IF EXISTS user_app_metadata_gin;
DROP INDEX IF EXISTS user_user_metadata_gin;
"""


def _on_postgres(sql: str):  # type: ignore[no-untyped-def]
    def run(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)

    return run


class Migration(migrations.Migration):
    dependencies = [("users", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(FORWARD), _on_postgres(BACKWARD))]
