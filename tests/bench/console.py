"""The console benchmark: users page, search fragment and user page over the loaded tenant.

    make bench-console    (after make bench-search has loaded the users)

Server time is the Django test client's request in-process: middleware, view, search,
template rendering; no network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "metadata_admin.settings")

STAFF = "bench-admin@staff.test"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    args = parser.parse_args()
    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.test import Client

    from users.models import Membership, Tenant, User

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    tenant = Tenant.objects.get(slug="bench")
    staff, _ = get_user_model().objects.get_or_create(username=STAFF)
    Membership.objects.get_or_create(staff=staff, tenant=tenant, defaults={"role": "admin"})
    client = Client()
    client.force_login(staff)
    some_user = User.objects.filter(tenant=tenant).order_by("-created_at").first()
    assert some_user is not None
    users = f"/t/{tenant.slug}/users/"
    cases = [
        ("users page (full page, default sort)", users, {}, 100.0),
        (
            "search fragment: user_metadata.theme:dark",
            users,
            {"q": "user_metadata.theme:dark"},
            100.0,
        ),
        ("search fragment: email:*@globex.test", users, {"q": "email:*@globex.test"}, 100.0),
        (
            "search fragment: app_metadata.plan:pro, sorted by email",
            users,
            {"q": "app_metadata.plan:pro", "sort": "email:1"},
            100.0,
        ),
        ("user page", f"/t/{tenant.slug}/users/{some_user.user_id}/", {}, 50.0),
    ]
    print(
        f"\n{User.objects.filter(tenant=tenant).count():,} users; {args.repeat} requests each "
        f"after {args.warmup} warm-up requests.\n"
    )
    print("| page | p50 ms | p95 ms | target | met |")
    print("| --- | ---: | ---: | ---: | --- |")
    for label, path, params, target in cases:
        htmx = {"HX-Request": "true"} if params else {}
        timings = []
        for attempt in range(args.warmup + args.repeat):
            started = time.perf_counter()
            response = client.get(path, params, headers=htmx)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, (label, response.status_code)
            if attempt >= args.warmup:
                timings.append(elapsed)
        p50 = statistics.median(timings)
        p95 = statistics.quantiles(timings, n=20, method="inclusive")[18]
        print(
            f"| {label} | {p50:.1f} | {p95:.1f} | {target:.0f} | "
            f"{'yes' if p95 <= target else '**no**'} |"
        )


if __name__ == "__main__":
    main()
