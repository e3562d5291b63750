"""Fast multi-row inserts for the write path (`users.services` and `users.audit`) only.

Django's `bulk_create` compiles SQL for every batch of at most a few dozen rows on SQLite;
one prepared INSERT run with `executemany` is several times faster for the large batches of
seeding, loading and importing, and PostgreSQL's COPY faster again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Field, Model


def insert_tuples(
    model: type[Model], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> None:
    """INSERT rows of already prepared database values into `model`'s table."""
    rows = list(rows)
    if not rows:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = ", ".join(quote(column) for column in columns)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # COPY is several times faster than even a pipelined executemany.
            with (
                connection.wrap_database_errors,  # as Django's own errors (IntegrityError)
                cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                for row in rows:
                    copy.write_row(row)
        else:
            placeholders = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({placeholders})", rows)


def insert_rows(objs: Sequence[Model]) -> None:
    """INSERT model instances (all of one model, primary keys unset), each value prepared by
    its field's own `get_db_prep_save`, exactly as `save()` would."""
    if not objs:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    meta = objs[0]._meta
    fields: list[Field[Any, Any]] = [f for f in meta.concrete_fields if not f.primary_key]
    insert_tuples(
        type(objs[0]),
        [field.column for field in fields],
        (
            tuple(f.get_db_prep_save(getattr(obj, f.attname), connection) for f in fields)
            for obj in objs
        ),
    )


def datetime_adapter() -> Callable[[datetime], Any]:
    """Turns a datetime into what the default database takes in a raw query."""
    return connections[DEFAULT_DB_ALIAS].ops.adapt_datetimefield_value
