"""Per-client rate limiting: a token bucket kept in the database, so every server process
shares it. One UPDATE refills the bucket for the time passed and takes a token, atomically;
a request finding it empty gets 429 and the time until the next token."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import connection

from users.models import RateBucket


@dataclass(frozen=True)
class Allowance:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # epoch seconds when the bucket is full again (429: when a token is back)

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


_TAKE = """
UPDATE {table}
SET tokens = {least}(%s, tokens + {greatest}(0, %s - updated) * %s) - 1,
    updated = {greatest}(updated, %s)
WHERE {key} = %s AND {least}(%s, tokens + {greatest}(0, %s - updated) * %s) >= 1
RETURNING tokens
"""
_CREATE = """
INSERT INTO {table} ({key}, tokens, updated) VALUES (%s, %s, %s)
ON CONFLICT ({key}) DO NOTHING
RETURNING tokens
"""


def take(key: str, *, capacity: int | None = None, per_second: float | None = None) -> Allowance:
    """Take one token from bucket `key` (capacity and refill rate from the settings)."""
    capacity = capacity or settings.API_RATE_LIMIT_BURST
    rate = per_second or settings.API_RATE_LIMIT_PER_SECOND
    now = time.time()
    quote = connection.ops.quote_name
    table = quote(RateBucket._meta.db_table)
    postgres = connection.vendor == "postgresql"
    sql = _TAKE.format(
        table=table,
        key=quote("key"),
        least="LEAST" if postgres else "MIN",
        greatest="GREATEST" if postgres else "MAX",
    )
    params = [capacity, now, rate, now, key, capacity, now, rate]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
        if row is None:  # no bucket yet (make it, one token taken), or it is empty
            cursor.execute(_CREATE.format(table=table, key=quote("key")), [key, capacity - 1, now])
            row = cursor.fetchone()
            if row is None:  # it exists: someone made it meanwhile, or it is really empty
                cursor.execute(sql, params)
                row = cursor.fetchone()
    if row is None:
        bucket = RateBucket.objects.get(key=key)
        tokens = min(capacity, bucket.tokens + max(0.0, now - bucket.updated) * rate)
        wait = max(0.0, (1 - tokens) / rate)
        return Allowance(False, capacity, 0, math.ceil(now + wait))
    tokens = float(row[0])
    full_in = (capacity - tokens) / rate
    return Allowance(True, capacity, max(0, math.floor(tokens)), math.ceil(now + full_in))
