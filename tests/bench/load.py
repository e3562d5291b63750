"""Load N users with varied metadata into PostgreSQL quickly, for the benchmarks.

Benchmark setup, not a product path: rows are written with COPY from two processes, with
the secondary indexes dropped during the load and rebuilt afterwards. The search leaves come
from the product's own `users.search.leaves`, so they mean what the write path would store.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/metadata_bench \
        python -m tests.bench.load 1000000
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import django
import psycopg

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")

TENANT = "bench"
CITIES = (
    "Paris",
    "Berlin",
    "Lagos",
    "Tokyo",
    "Austin",
    "Lima",
    "Oslo",
    "Pune",
    "Toronto",
    "Madrid",
    "Parma",
    "Perth",
    "Porto",
    "Prague",
    "Quito",
    "Rome",
    "Seoul",
    "Sydney",
    "Turin",
    "Vienna",
)
FIRST = (
    "Ada",
    "Alan",
    "Grace",
    "Linus",
    "Margaret",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "John",
    "Radia",
    "Tim",
    "Hedy",
    "Guido",
    "Katherine",
    "Edsger",
    "Anita",
    "Donald",
    "Sophie",
    "Johanna",
)
LAST = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Torvalds",
    "Hamilton",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "McCarthy",
    "Perlman",
    "Johnson",
    "Lamarr",
    "Rossum",
    "Dijkstra",
    "Borg",
    "Knuth",
)
DOMAINS = ("example.com", "acme.test", "globex.test", "mail.test", "initech.test", "umbrella.test")
THEMES = ("light", "dark", "system")
LANGUAGES = ("en", "fr", "de", "es", "ja", "pt")
PLANS = ("free", "starter", "pro", "enterprise")
ROLES = ("admin", "editor", "viewer", "billing", "support")
EPOCH = datetime(2026, 11, 1, tzinfo=UTC)
USER_COLUMNS = (
    "id",
    "tenant_id",
    "user_id",
    "connection_id",
    "email",
    "email_verified",
    "username",
    "phone_number",
    "phone_verified",
    "name",
    "given_name",
    "family_name",
    "nickname",
    "picture",
    "blocked",
    "user_metadata",
    "app_metadata",
    "password",
    "created_at",
    "updated_at",
    "last_login",
    "last_ip",
    "logins_count",
    "version",
)
LEAF_COLUMNS = ("tenant_id", "user_id", "tier", "path", "kind", "first", "text", "number", "moment")
IDENTITY_COLUMNS = (
    "user_id",
    "connection_id",
    "provider",
    "provider_user_id",
    "is_social",
    "profile_data",
)


def bench_user(
    rng: random.Random, index: int
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    first, last = FIRST[rng.randrange(len(FIRST))], LAST[rng.randrange(len(LAST))]
    user_metadata: dict[str, Any] = {
        "theme": THEMES[rng.randrange(3)],
        "language": LANGUAGES[rng.randrange(6)],
        "newsletter": rng.random() < 0.4,
        "addresses": [
            {"city": CITIES[rng.randrange(len(CITIES))]} for _ in range(rng.randint(1, 2))
        ],
        "prefs": {"notifications": {"email": rng.random() < 0.7}},
    }
    if rng.random() < 0.6:
        user_metadata["score"] = rng.randrange(1001)
    if rng.random() < 0.5:
        user_metadata["birthday"] = (
            (datetime(1955, 1, 1) + timedelta(days=rng.randrange(18250))).date().isoformat()
        )
    app_metadata: dict[str, Any] = {
        "plan": PLANS[rng.randrange(4)],
        "roles": rng.sample(ROLES, rng.randint(1, 2)),
        "seats": rng.randint(1, 250),
    }
    if rng.random() < 0.3:
        app_metadata["trial_ends_at"] = (
            (datetime(2026, 1, 1) + timedelta(days=rng.randrange(900))).date().isoformat()
        )
    created = EPOCH - timedelta(seconds=rng.randrange(730 * 86400))
    profile = {
        "email": f"{first}.{last}.{index}@{DOMAINS[rng.randrange(len(DOMAINS))]}".lower(),
        "name": f"{first} {last}",
        "given_name": first,
        "family_name": last,
        "nickname": first.lower(),
        "created_at": created,
        "logins_count": rng.randrange(300),
        "blocked": rng.random() < 0.03,
        "email_verified": rng.random() < 0.8,
    }
    return profile, user_metadata, app_metadata


def _copy_chunk(args: tuple[str, int, int, int, int, int]) -> int:
    dsn, tenant_id, connection_id, start, end, seed = args
    from users.search.leaves import leaves

    rng = random.Random(seed)
    leaf_count = 0
    with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
        with cursor.copy(f"COPY users_user ({', '.join(USER_COLUMNS)}) FROM STDIN") as copy:
            tiers: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
            for pk in range(start, end):
                profile, um, am = bench_user(rng, pk)
                hex_id = f"{pk:024x}"
                copy.write_row(
                    (
                        pk,
                        tenant_id,
                        f"auth0|{hex_id}",
                        connection_id,
                        profile["email"],
                        profile["email_verified"],
                        None,
                        None,
                        False,
                        profile["name"],
                        profile["given_name"],
                        profile["family_name"],
                        profile["nickname"],
                        None,
                        profile["blocked"],
                        json.dumps(um),
                        json.dumps(am),
                        "",
                        profile["created_at"],
                        profile["created_at"],
                        None,
                        None,
                        profile["logins_count"],
                        1,
                    )
                )
                tiers.append((pk, um, am))
        with cursor.copy(f"COPY users_identity ({', '.join(IDENTITY_COLUMNS)}) FROM STDIN") as copy:
            for pk, _, _ in tiers:
                copy.write_row((pk, connection_id, "auth0", f"{pk:024x}", False, "{}"))
        with cursor.copy(f"COPY users_searchleaf ({', '.join(LEAF_COLUMNS)}) FROM STDIN") as copy:
            for pk, um, am in tiers:
                for code, doc in (("u", um), ("a", am)):
                    for leaf in leaves(doc):
                        copy.write_row(
                            (
                                tenant_id,
                                pk,
                                code,
                                leaf.path,
                                leaf.kind,
                                leaf.first,
                                leaf.text,
                                leaf.number,
                                leaf.moment,
                            )
                        )
                        leaf_count += 1
        conn.commit()
    return leaf_count


def _secondary_indexes(cursor: Any) -> list[tuple[str, str]]:
    cursor.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = 'public'
          AND i.tablename IN ('users_user', 'users_identity', 'users_searchleaf')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """
    )
    return list(cursor.fetchall())


def loaded_count() -> int:
    from django.core.management import call_command

    from users.models import User

    call_command("migrate", verbosity=0)
    return User.objects.filter(tenant__slug=TENANT).count()


def load(count: int, *, plan: str = "professional") -> None:
    from django.core.management import call_command
    from django.db import connection

    from users import services
    from users.audit import Actor, Context

    call_command("migrate", verbosity=0)
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE users_searchleaf, users_identity, users_user CASCADE")
    from users.models import Tenant

    tenant = Tenant.objects.filter(slug=TENANT).first()
    ctx = Context(actor=Actor("system", "", "bench-loader"), channel="cli")
    if tenant is None:
        tenant = services.tenant_create(slug=TENANT, name="Benchmark", plan=plan, by=ctx)
    elif tenant.plan != plan:
        services.tenant_set_plan(tenant=tenant, plan=plan, by=ctx)
    connection_id = tenant.connections.get().pk
    dsn = _dsn()
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as pg_cursor:
        indexes = _secondary_indexes(pg_cursor)
        for name, _ in indexes:
            pg_cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
    chunks = 20
    step = -(-count // chunks)
    jobs = [
        (dsn, tenant.pk, connection_id, 1 + i * step, 1 + min(count, (i + 1) * step), 1000 + i)
        for i in range(chunks)
        if i * step < count
    ]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        leaf_total = sum(pool.map(_copy_chunk, jobs))
    loaded = time.monotonic()
    print(f"copied {count:,} users and {leaf_total:,} leaves in {loaded - started:.0f}s")

    def build(definition: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '1GB'")
            conn.execute("SET max_parallel_maintenance_workers = 1")
            conn.execute(definition)

    with ThreadPoolExecutor(max_workers=2) as executor:
        list(
            executor.map(
                build,
                [definition for _, definition in sorted(indexes, key=lambda i: "gin" not in i[1])],
            )
        )
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT setval('users_user_id_seq', (SELECT max(id) FROM users_user))")
        conn.execute("VACUUM ANALYZE users_user, users_identity, users_searchleaf")
    print(
        f"rebuilt {len(indexes)} indexes and analyzed in {time.monotonic() - loaded:.0f}s; "
        f"total {time.monotonic() - started:.0f}s"
    )


def _dsn() -> str:
    from django.db import connection

    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        **{k: v for k, v in params.items() if k in ("dbname", "user", "password", "host", "port")}
    )


def ensure_database() -> None:
    """Create the benchmark database named in DATABASE_URL if it does not exist."""
    import dj_database_url

    config = dj_database_url.parse(os.environ["DATABASE_URL"])
    name = config["NAME"]
    admin = psycopg.conninfo.make_conninfo(
        dbname="postgres",
        user=config.get("USER") or "postgres",
        host=config.get("HOST") or "127.0.0.1",
        port=str(config.get("PORT") or 5432),
        password=config.get("PASSWORD") or None,
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("count", type=int, nargs="?", default=1_000_000)
    parser.add_argument("--force", action="store_true", help="Reload even if already loaded")
    args = parser.parse_args()
    ensure_database()
    django.setup()
    if not args.force and loaded_count() == args.count:
        print(f"{args.count:,} benchmark users already loaded; --force reloads them.")
        return
    load(args.count)


if __name__ == "__main__":
    main()
