"""Per-client rate limiting: a token bucket kept in the database, so every server process
shares it. One UPDATE refills the bucket for the time passed and takes a token, atomically;
a request finding it empty gets 429 and the time until the next token."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, connection, transaction

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
SET tokens = {least}(%s, tokens + (%s - updated) * %s) - 1, updated = %s
WHERE {key} = %s AND {least}(%s, tokens + (%s - updated) * %s) >= 1
RETURNING tokens
"""


def take(key: str, *, capacity: int | None = None, per_second: float | None = None) -> Allowance:
    """Take one token from bucket `key` (capacity and refill rate from the settings)."""
    capacity = capacity or settings.API_RATE_LIMIT_BURST
    rate = per_second or settings.API_RATE_LIMIT_PER_SECOND
    now = time.time()
    sql = _TAKE.format(
        table=connection.ops.quote_name(RateBucket._meta.db_table),
        key=connection.ops.quote_name("key"),
        least="LEAST" if connection.vendor == "postgresql" else "MIN",
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [capacity, now, rate, now, key, capacity, now, rate])
        row = cursor.fetchone()
    if row is None and not RateBucket.objects.filter(key=key).exists():
        try:
            with transaction.atomic():
                RateBucket.objects.create(key=key, tokens=capacity - 1, updated=now)
            row = (capacity - 1,)
        except IntegrityError:  # another process created it meanwhile: take from it
            return take(key, capacity=capacity, per_second=rate)
    if row is None:
        bucket = RateBucket.objects.get(key=key)
        tokens = min(capacity, bucket.tokens + (now - bucket.updated) * rate)
        wait = max(0.0, (1 - tokens) / rate)
        return Allowance(False, capacity, 0, math.ceil(now + wait))
    tokens = float(row[0])
    full_in = (capacity - tokens) / rate
    return Allowance(True, capacity, max(0, math.floor(tokens)), math.ceil(now + full_in))
