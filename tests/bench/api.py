"""The Management API under load: gunicorn with 4 workers over the 1,000,000 users
bench-search loaded, 32 concurrent clients for 30 s per scenario.

    make bench-api    (after make bench-search has loaded the users)

The load comes from one asyncio process (httpx) on the same 2-core machine as the server and
PostgreSQL, so it competes with them for CPU. The client's rate limit is raised out of the way.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import django
import httpx

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")
PORT = 8797


@dataclass
class Scenario:
    name: str
    request: Callable[[random.Random], tuple[str, str, Any]]  # method, path, json body
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)


def scenarios(user_ids: list[str], emails: list[str]) -> list[Scenario]:
    def by_email(rng: random.Random) -> tuple[str, str, Any]:
        return "GET", f'/users?q=email:"{rng.choice(emails)}"', None

    def metadata_value(rng: random.Random) -> tuple[str, str, Any]:
        theme = rng.choice(["dark", "light", "system"])
        return "GET", f"/users?q=user_metadata.theme:{theme}&per_page=50", None

    def date_range(rng: random.Random) -> tuple[str, str, Any]:
        day = rng.randrange(1, 28)
        q = f"created_at:[2025-06-{day:02d} TO 2025-06-{day + 1:02d}]"
        return "GET", f"/users?q={q}&per_page=50", None

    def patch(rng: random.Random) -> tuple[str, str, Any]:
        body = {"user_metadata": {"bench": rng.randrange(1_000_000)}}
        return "PATCH", f"/users/{rng.choice(user_ids)}", body

    return [
        Scenario('GET /users, exact root field (q=email:"...")', by_email),
        Scenario("GET /users, exact metadata value (q=user_metadata.theme:dark)", metadata_value),
        Scenario("GET /users, date range on root (q=created_at:[... TO ...])", date_range),
        Scenario("PATCH /users/{id}, user_metadata merge", patch),
    ]


async def run(scenario: Scenario, token: str, clients: int, seconds: float) -> float:
    deadline = time.perf_counter() + seconds
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(seed: int, http: httpx.AsyncClient) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < deadline:
            method, path, body = scenario.request(rng)
            started = time.perf_counter()
            response = await http.request(method, path, json=body, headers=headers)
            scenario.latencies.append(time.perf_counter() - started)
            scenario.statuses[response.status_code] = (
                scenario.statuses.get(response.status_code, 0) + 1
            )

    base = f"http://127.0.0.1:{PORT}/api/v2"
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:
        started = time.perf_counter()
        await asyncio.gather(*(client(seed, http) for seed in range(clients)))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)
    from django.conf import settings

    from users import services
    from users.audit import Actor, Context
    from users.models import ApiClient, Channel, Scope, Tenant, User

    tenant = Tenant.objects.get(slug="bench")
    ApiClient.objects.filter(tenant=tenant, name__startswith="bench-api").delete()
    by = Context(actor=Actor.system("bench"), channel=Channel.CLI)
    _, token = services.api_client_create(
        tenant=tenant, name=f"bench-api-{int(time.time())}", scopes=Scope.values, by=by
    )
    sample = list(
        User.objects.filter(tenant=tenant).order_by("?").values_list("user_id", "email")[:5000]
    )
    user_ids = [user_id for user_id, _ in sample]
    emails = [email for _, email in sample if email]
    env = {
        **os.environ,
        "DEBUG": "False",
        # The server appends to the chains this process loaded: the same key, not a default.
        "AUDIT_CHAIN_KEY": settings.AUDIT_CHAIN_KEY,
        "SIGNING_KEYS_SECRET": settings.SIGNING_KEYS_SECRET,
        "ALLOWED_HOSTS": "127.0.0.1",
        "API_RATE_LIMIT_BURST": "10000000",
        "API_RATE_LIMIT_PER_SECOND": "10000000",
    }
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "metadata_admin.wsgi",
            "-w",
            str(args.workers),
            "-b",
            f"127.0.0.1:{PORT}",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    try:
        for _ in range(100):
            try:
                httpx.get(f"http://127.0.0.1:{PORT}/api/v2/openapi.json")
                break
            except httpx.TransportError:
                time.sleep(0.2)
        print(f"{args.clients} clients, {args.seconds:.0f} s a scenario, {args.workers} workers\n")
        print(
            "| scenario | requests | req/s | p50 ms | p95 ms | statuses | p95 <= 100 ms | 300/s |"
        )
        print("| --- | ---: | ---: | ---: | ---: | --- | --- | --- |")
        for scenario in scenarios(user_ids, emails):
            warm = Scenario(scenario.name, scenario.request)
            asyncio.run(run(warm, token, args.clients, 3))
            elapsed = asyncio.run(run(scenario, token, args.clients, args.seconds))
            latencies = sorted(scenario.latencies)
            rate = len(latencies) / elapsed
            p50 = statistics.median(latencies) * 1000
            p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000
            codes = ", ".join(f"{code}: {n}" for code, n in sorted(scenario.statuses.items()))
            print(
                f"| {scenario.name} | {len(latencies):,} | {rate:,.0f} | {p50:.1f} | {p95:.1f} "
                f"| {codes} | {'yes' if p95 <= 100 else '**no**'} "
                f"| {'yes' if rate >= 300 else '**no**'} |",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
