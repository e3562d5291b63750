"""The export benchmark: CSV of every loaded user, 12 columns with 4 metadata paths.

    make bench-export    (after make bench-search has loaded the users)

Each run is a fresh process (so peak RSS is the export's own) writing to a file; the
throughput excludes process start-up.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = (
    "user_id,email,name,given_name,family_name,email_verified,created_at,logins_count,"
    "user_metadata.theme,user_metadata.language,user_metadata.score,app_metadata.plan"
)


def one_run(output: str) -> None:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")
    django.setup()
    from users.exports import export_users
    from users.models import Tenant

    tenant = Tenant.objects.get(slug="bench")
    started = time.perf_counter()
    size = 0
    with Path(output).open("wb") as out:
        for chunk in export_users(tenant, columns=COLUMNS):
            out.write(chunk)
            size += len(chunk)
    seconds = time.perf_counter() - started
    with Path(output).open("rb") as written:
        rows = sum(1 for _ in written) - 1
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": seconds, "bytes": size, "peak_rss_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", metavar="FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        one_run(args.one)
        return
    results = []
    for _ in range(args.runs):
        done = subprocess.run(
            [sys.executable, "-m", "tests.bench.export", "--one", "/tmp/metadata-admin-export.csv"],
            check=True,
            capture_output=True,
            text=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    rates = [r["rows"] / r["seconds"] for r in results]
    first = results[0]
    print(f"\n{first['rows']:,} rows, {first['bytes'] / 1e6:.0f} MB of CSV, {args.runs} runs\n")
    print("| measure | median | worst | target | met |")
    print("| --- | ---: | ---: | ---: | --- |")
    rate, worst_rate = statistics.median(rates), min(rates)
    met = "yes" if worst_rate >= 50_000 else "**no**"
    print(f"| rows/s | {rate:,.0f} | {worst_rate:,.0f} | >= 50,000 | {met} |")
    peaks = [r["peak_rss_mb"] for r in results]
    peak, worst_peak = statistics.median(peaks), max(peaks)
    met = "yes" if worst_peak <= 200 else "**no**"
    print(f"| peak RSS MB | {peak:.0f} | {worst_peak:.0f} | <= 200 | {met} |")


if __name__ == "__main__":
    main()
