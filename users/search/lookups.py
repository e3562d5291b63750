"""Query lookups the search compiler needs, identical in meaning on SQLite and PostgreSQL.

- `__lower`: LOWER(column), so `email__lower="x"` uses the lower(email) indexes.
- `__matches`: a case-sensitive wildcard match. The right-hand side is a LIKE pattern
  (`%` any run of characters, `\\` escapes). PostgreSQL runs LIKE (served by trigram and
  pattern-ops indexes); SQLite runs GLOB, because SQLite's LIKE ignores case.
- `__jsonpath` (PostgreSQL): `column @? jsonpath`, served by the GIN index on the column.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import CharField, JSONField, Lookup, TextField
from django.db.models.functions import Lower
from django.db.models.sql.compiler import SQLCompiler

_GLOB_SPECIAL = {"*": "[*]", "?": "[?]", "[": "[[]"}


def like_to_glob(pattern: str) -> str:
    out: list[str] = []
    escaped = False
    for char in pattern:
        if escaped:
            out.append(_GLOB_SPECIAL.get(char, char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "%":
            out.append("*")
        else:
            out.append(_GLOB_SPECIAL.get(char, char))
    return "".join(out)


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class Matches(Lookup[str]):
    lookup_name = "matches"
    prepare_rhs = False

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "sqlite":
            return f"{lhs} GLOB {rhs}", [*lhs_params, *[like_to_glob(str(p)) for p in rhs_params]]
        return f"{lhs} LIKE {rhs}", [*lhs_params, *rhs_params]


class JsonPathExists(Lookup[Any]):
    lookup_name = "jsonpath"
    prepare_rhs = False

    def get_db_prep_lookup(self, value: Any, connection: BaseDatabaseWrapper) -> Any:
        return ("%s", [value])

    def as_sql(self, compiler: SQLCompiler, connection: BaseDatabaseWrapper) -> Any:
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @? ({rhs})::jsonpath", [*lhs_params, *rhs_params]


def register() -> None:
    for field in (CharField, TextField):
        field.register_lookup(Lower)
        field.register_lookup(Matches)
    JSONField.register_lookup(JsonPathExists)
