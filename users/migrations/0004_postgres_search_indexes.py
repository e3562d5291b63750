"""PostgreSQL only: trigram indexes for wildcards, pattern-ops indexes for prefixes, and
covering indexes on the search leaves so that metadata terms are index-only scans.

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
        "(tenant_id, tier, path, text text_pattern_ops) INCLUDE (user_id, kind)"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_number_idx ON users_searchleaf "
        "(tenant_id, tier, path, number) INCLUDE (user_id, kind) WHERE number IS NOT NULL"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_moment_idx ON users_searchleaf "
        "(tenant_id, tier, path, moment) INCLUDE (user_id) WHERE moment IS NOT NULL"
    )
    # Sorting by a metadata path walks its users' first leaves in order, either way.
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_sort_idx ON users_searchleaf "
        "(tenant_id, tier, path, number, text, user_id) WHERE first"
    )
    sql.append(
        "CREATE INDEX IF NOT EXISTS leaf_sort_desc_idx ON users_searchleaf "
        "(tenant_id, tier, path, number DESC NULLS LAST, text DESC NULLS LAST, user_id DESC) "
        "WHERE first"
    )
    # The planner needs finer statistics on leaves, whose values mix every path of every
    # user: with the defaults it misjudges prefix and range terms by 20x or more and picks
    # plans that read every match.
    sql.append(
        "ALTER TABLE users_searchleaf ALTER COLUMN text SET STATISTICS 1000, "
        "ALTER COLUMN path SET STATISTICS 1000, ALTER COLUMN number SET STATISTICS 1000"
    )
    sql.append(
        "CREATE STATISTICS IF NOT EXISTS leaf_path_stats (dependencies, mcv) "
        "ON tier, path, kind FROM users_searchleaf"
    )
    # Index-only probes from a search leaf back to its user: tenant and the default sort key.
    sql.append(
        "CREATE INDEX IF NOT EXISTS user_id_tenant ON users_user (id) INCLUDE (tenant_id, created_at)"
    )
    return sql


def forward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor == "postgresql":
        for statement in _statements():
            schema_editor.execute(statement, params=None)


def backward(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP STATISTICS IF EXISTS leaf_path_stats", params=None)
    for statement in _statements()[1:]:
        if statement.startswith("CREATE INDEX"):
            name = statement.split("EXISTS ")[1].split(" ")[0]
            schema_editor.execute(f"DROP INDEX IF EXISTS {name}", params=None)


class Migration(migrations.Migration):
    dependencies = [("users", "0003_search_leaves")]

    operations = [migrations.RunPython(forward, backward)]
