"""The import benchmark: 100,000 users (Auth0 JSON with both metadata tiers and bcrypt hashes)
imported as a job, with validation, search leaves and one audit event each, into PostgreSQL
beside the 1,000,000 users bench-search loaded.

    make bench-import    (after make bench-search has loaded the users)

Each run imports into a fresh tenant through the job's own code path (`run_import`: chunked
transactions, checkpoints, the refused-rows file), then checks the counts and the audit chain.
The bench tenants are dropped afterwards with the audit trigger disabled for the session
(benchmark clean-up only; the product never deletes audit events).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")

BCRYPT = "$2b$10$" + "N9qo8uLOickgx2ZMRZoMye" + "IjZAgcfl7p92ldGxad68LJZdL17lhWy"
PREFIX = "bench-import-"


def bench_rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    from tests.bench.load import bench_user

    rng = random.Random(seed)
    rows = []
    for index in range(count):
        profile, user_metadata, app_metadata = bench_user(rng, index)
        rows.append(
            {
                "email": profile["email"],
                "email_verified": profile["email_verified"],
                "name": profile["name"],
                "given_name": profile["given_name"],
                "family_name": profile["family_name"],
                "nickname": profile["nickname"],
                "blocked": profile["blocked"],
                "password_hash": BCRYPT,
                "user_metadata": user_metadata,
                "app_metadata": app_metadata,
            }
        )
    return rows


def drop_bench_tenants() -> None:
    from django.db import connection, transaction

    tables = (
        ("users_searchleaf", "tenant_id"),
        ("users_identity", "user_id IN (SELECT id FROM users_user WHERE tenant_id"),
        ("users_user", "tenant_id"),
        ("users_auditevent", "tenant_id"),
        ("users_auditchain", "tenant_id"),
        ("users_job", "tenant_id"),
        ("users_connection", "tenant_id"),
        ("users_membership", "tenant_id"),
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SELECT id FROM users_tenant WHERE slug LIKE %s", [PREFIX + "%"])
        ids = [row[0] for row in cursor.fetchall()]
        for tenant_id in ids:
            for table, column in tables:
                closing = ")" if "(" in column else ""
                cursor.execute(f"DELETE FROM {table} WHERE {column} = %s{closing}", [tenant_id])
            cursor.execute("DELETE FROM users_tenant WHERE id = %s", [tenant_id])


def one_run(data: bytes, run: int) -> dict[str, Any]:
    from django.conf import settings

    from users import jobs, services
    from users.audit import Actor, Context, verify_chain
    from users.models import Channel, Job, User

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    ctx = Context(actor=Actor.system("bench"), channel=Channel.CLI)
    tenant = services.tenant_create(slug=f"{PREFIX}{int(time.time())}-{run}", plan="free", by=ctx)
    started = time.perf_counter()
    job = jobs.import_job_start(
        tenant=tenant,
        staff_pk=None,
        data=data,
        file_name="bench.json",
        fmt="json",
        upsert=False,
        metadata_mode="replace",
        dry_run=False,
    )
    jobs.run_import.call(job.pk)
    seconds = time.perf_counter() - started
    job.refresh_from_db()
    report = job.result["report"]
    users = User.objects.filter(tenant=tenant).count()
    chain = verify_chain(tenant)
    assert job.status == Job.Status.SUCCEEDED, job.error
    assert report["inserted"] == users == report["total"] and chain.ok, (report, users, chain)
    return {"rows": users, "seconds": seconds, "events": chain.checked}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    django.setup()
    from users.models import User

    data = json.dumps(bench_rows(args.users)).encode()
    print(f"{User.objects.count():,} users in the database; importing {args.users:,} a run")
    results = []
    try:
        for run in range(args.runs):
            result = one_run(data, run)
            print(json.dumps(result))
            results.append(result)
    finally:
        drop_bench_tenants()
    rates = [r["rows"] / r["seconds"] for r in results]
    print(f"\n{args.users:,} users ({len(data) / 1e6:.0f} MB of JSON), {args.runs} runs\n")
    print("| measure | median | worst | target | met |")
    print("| --- | ---: | ---: | ---: | --- |")
    rate, worst = statistics.median(rates), min(rates)
    met = "yes" if worst >= 5_000 else "**no**"
    print(f"| rows/s | {rate:,.0f} | {worst:,.0f} | >= 5,000 | {met} |")


if __name__ == "__main__":
    main()
