"""Per-key rate limit: a token bucket per API key, in this process.

Each API process limits on its own, so behind N processes a key gets up to N times the rate;
the limit protects the process and the database from one runaway client, it is not billing."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.errors import ApiError


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.buckets: dict[object, _Bucket] = {}

    def check(self, key: object) -> None:
        now = self.clock()
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = _Bucket(self.capacity, now)
        bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
        bucket.stamp = now
        if bucket.tokens < 1:
            wait = math.ceil((1 - bucket.tokens) / self.rate)
            raise ApiError(429, "rate_limited",
                           f"too many requests for this API key; retry in {wait} s",
                           headers={"Retry-After": str(wait)})
        bucket.tokens -= 1
        if len(self.buckets) > 100_000:  # keys are few; this only bounds memory against abuse
            self.buckets.clear()
