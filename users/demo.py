"""Realistic, varied demo users: nested objects, arrays, numbers, booleans and dates in both
metadata tiers. Deterministic for a given seed, so tests and benchmarks can rely on it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

FIRST_NAMES = (
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
    "Yukihiro",
    "Amara",
    "Mateo",
    "Chloé",
    "Jörg",
    "Zoë",
    "Priya",
    "Kwame",
    "Ingrid",
    "Olu",
    "Mei",
)
LAST_NAMES = (
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
    "Berners-Lee",
    "Lamarr",
    "van Rossum",
    "Johnson",
    "Dijkstra",
    "Borg",
    "Knuth",
    "Wilson",
    "Matsumoto",
    "Okafor",
    "García",
    "Dubois",
    "Müller",
    "Nakamura",
)
DOMAINS = ("example.com", "acme.test", "globex.test", "mail.test", "initech.test", "umbrella.test")
CITIES = (
    ("Paris", "FR"),
    ("Berlin", "DE"),
    ("Lagos", "NG"),
    ("Tokyo", "JP"),
    ("Austin", "US"),
    ("Lima", "PE"),
    ("Oslo", "NO"),
    ("Pune", "IN"),
    ("Toronto", "CA"),
    ("Madrid", "ES"),
)
LANGUAGES = ("en", "fr", "de", "es", "ja", "pt")
HOBBIES = ("surfing", "chess", "climbing", "baking", "cycling", "painting", "running", "go")
PLANS = ("free", "starter", "pro", "enterprise")
ROLES = ("admin", "editor", "viewer", "billing", "support")
SOURCES = ("web", "ios", "android", "partner", "import")


def _date(rng: random.Random, start_year: int, end_year: int) -> str:
    day = datetime(start_year, 1, 1) + timedelta(days=rng.randrange((end_year - start_year) * 365))
    return day.date().isoformat()


def user_metadata(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.08:
        return {}
    city, country = rng.choice(CITIES)
    doc: dict[str, Any] = {
        "theme": rng.choice(("light", "dark", "system")),
        "language": rng.choice(LANGUAGES),
        "newsletter": rng.random() < 0.4,
        "addresses": [{"city": city, "country": country, "zip": f"{rng.randrange(10000, 99999)}"}],
        "preferences": {
            "notifications": {"email": rng.random() < 0.7, "sms": rng.random() < 0.2},
            "timezone": rng.choice(("UTC", "Europe/Paris", "America/Chicago", "Asia/Tokyo")),
        },
    }
    if rng.random() < 0.5:
        doc["birthday"] = _date(rng, 1955, 2006)
    if rng.random() < 0.6:
        doc["hobbies"] = rng.sample(HOBBIES, rng.randint(1, 3))
    if rng.random() < 0.3:
        other_city, other_country = rng.choice(CITIES)
        doc["addresses"].append({"city": other_city, "country": other_country})
    if rng.random() < 0.5:
        doc["score"] = rng.randint(0, 1000)
    return doc


def app_metadata(rng: random.Random) -> dict[str, Any]:
    if rng.random() < 0.05:
        return {}
    doc: dict[str, Any] = {
        "plan": rng.choice(PLANS),
        "roles": rng.sample(ROLES, rng.randint(1, 2)),
        "account_id": f"acc_{rng.randrange(1, 5000):05d}",
        "signup_source": rng.choice(SOURCES),
        "seats": rng.randint(1, 250),
        "features": {"beta": rng.random() < 0.25, "sso": rng.random() < 0.15},
    }
    if rng.random() < 0.3:
        doc["trial_ends_at"] = _date(rng, 2026, 2028)
    if rng.random() < 0.4:
        doc["external_ids"] = {"crm": f"CRM-{rng.randrange(100000, 999999)}"}
    if rng.random() < 0.2:
        doc["mrr"] = round(rng.uniform(9, 4999), 2)
    return doc


def demo_user(
    rng: random.Random, index: int, now: datetime | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """One user's body (for the write path) and system fields (times, logins): signed up
    over the two years before `now`."""
    now = now or datetime.now(UTC)
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    handle = f"{first}.{last}".lower().replace(" ", "").replace("-", "")
    body: dict[str, Any] = {
        "email": f"{handle}.{index}@{rng.choice(DOMAINS)}",
        "email_verified": rng.random() < 0.8,
        "name": f"{first} {last}",
        "given_name": first,
        "family_name": last,
        "nickname": first.lower(),
        "user_metadata": user_metadata(rng),
        "app_metadata": app_metadata(rng),
    }
    if rng.random() < 0.3:
        body["username"] = f"{handle}{index}"
    if rng.random() < 0.2:
        body["phone_number"] = f"+1555{rng.randrange(1000000, 9999999)}"
        body["phone_verified"] = rng.random() < 0.5
    if rng.random() < 0.03:
        body["blocked"] = True
    created_at = now - timedelta(seconds=rng.randrange(0, 730 * 86400))
    logins = rng.randint(0, 300)
    system: dict[str, Any] = {
        "created_at": created_at,
        "updated_at": created_at,
        "logins_count": logins,
    }
    if logins:
        system["last_login"] = created_at + (now - created_at) * rng.random()
        system["last_ip"] = f"203.0.113.{rng.randrange(1, 255)}"
    return body, system
