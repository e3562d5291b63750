"""PostgreSQL only: trigram indexes for wildcards and pattern-ops indexes for prefixes.

Root text fields that match case-insensitively are indexed on lower(...), as the search
compiler queries them. Metadata wildcards use the derived search leaves. No-ops on SQLite.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

CASE_INSENSITIVE = ("email", "name", "given_name", "family_name", "nickname")
CASE_SENSITIVE = ("user_id", "username", "phone_number")


def _statements() -> list[str]:
    sql = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
    for column in CASE_INSENSITIVE:
        sql.append(
            f"CREATE INDEX IF NOT EXISTS user_{column}_trgm ON users_user "
            f"USING gin (lower({column}) gin_trgm_ops)"
        )
        sql.append(
            f"CREATE INDEX IF NOT EXISTS user_{column}_prefix ON users_user "
            f"(tenant_id, lower({column}) text_pattern_ops)"
        )
    for column in CASE_SENSITIVE:
        sql.append(
            f"CREATE INDEX IF NOT EXISTS user_{column}_trgm ON users_user "
            f"USING gin ({column} gin_trgm_ops)"
        )
        sql.append(
            f"CREATE INDEX IF NOT EXISTS user_{column}_prefix ON users_user "
            f"(tenant_id, {column} text_pattern_ops)"
        )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_text_trgm ON users_searchleaf "
        "USING gin (text gin_trgm_ops)"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_text_prefix ON users_searchleaf "
        "(tenant_id, tier, path, text text_pattern_ops)"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_number_idx ON users_searchleaf "
        "(tenant_id, tier, path, number) WHERE number IS NOT NULL"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_moment_idx ON users_searchleaf "
        "(tenant_id, tier, path, moment) WHERE moment IS NOT NULL"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_sort_idx ON users_searchleaf "
        "(tenant_id, tier, path, number, text, user_id) WHERE first"
    )
    return sql


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements():
            schema_editor.execute(statement, params=None)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    for statement in _statements()[1:]:
        name = statement.split("EXISTS ")[1].split(" ")[0]
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [("users", "0003_search_leaves")]

    operations = [migrations.RunPython(forward, backward)]
