"""Per-API-token rate limiting: a token bucket per caller, in this process's memory.

The limit is per replica and per worker process: N replicas allow N times the rate in total.
That is deliberate: the signer keeps no shared state, and the limit exists to stop one
runaway client from starving the others on a replica, not to meter usage. Buckets are keyed
by authenticated token fingerprints only, so their number is bounded by SIGNER_API_TOKENS.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from signer.core.errors import ErrorCode, SignerError


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def wait_time(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0.0 when allowed, else seconds to wait."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, _Bucket(float(self.burst), now))
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def check(self, key: str) -> None:
        """RATE_LIMITED with ``retry_after_seconds`` (whole seconds, at least 1) when over."""
        wait = self.wait_time(key)
        if wait > 0:
            raise SignerError(
                ErrorCode.RATE_LIMITED,
                f"too many requests with this API token (limit {self.rate:g}/s, "
                f"burst {self.burst})",
                hint="slow down and retry after the given number of seconds",
                retry_after_seconds=max(1, math.ceil(wait)),
            )
