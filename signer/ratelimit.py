"""Rate limits, in this process's memory: a token bucket per API token, and one per client
address that pays for failed authentications.

The limits are per replica and per worker process: N replicas allow N times the rate in total.
That is deliberate: the signer keeps no shared state, and the limits exist to stop one runaway
client from starving the others on a replica, not to meter usage.

- ``RateLimiter`` (SIGNER_RATE_LIMIT): every authenticated request takes one request from its
  API token's bucket. Buckets are keyed by token fingerprints, so their number is bounded by
  SIGNER_API_TOKENS.
- ``FailedAuthLimiter`` (SIGNER_FAILED_AUTH_LIMIT): a request that fails authentication takes
  one from its client address's bucket, and an address whose bucket is empty is refused before
  any work (no routing, no body, no token check), so a flood of wrong tokens costs the signer
  a dictionary look-up per request. Charging failures only keeps a busy backend with a good
  token, or many clients behind one NAT, clear of it. Addresses are whatever the caller
  proved by connecting (see ``signer.app.client_address``), so there may be many: the least
  recently seen are forgotten past ``max_keys`` (forgetting one gives it a fresh burst, no
  more).
"""

from __future__ import annotations

import functools
import ipaddress
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from signer.core.errors import ErrorCode, SignerError

# Enough for every address a busy replica sees in a few minutes; about 200 bytes each.
MAX_ADDRESSES = 50_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class _Buckets:
    """Token buckets by key; ``max_keys`` bounds how many are kept (least recently used go)."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float], max_keys: int | None
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _refilled(self, key: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
            if self._max_keys is not None and len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        elif self._max_keys is not None:
            self._buckets.move_to_end(key)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        return bucket

    def take(self, key: str) -> float:
        """Take one from ``key``'s bucket: 0.0 when there was one, else seconds to wait."""
        with self._lock:
            bucket = self._refilled(key)
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return 0.0
            return (1 - bucket.tokens) / self.rate

    def wait(self, key: str) -> float:
        """Seconds until ``key``'s bucket holds one again (0.0: it does); takes nothing."""
        with self._lock:
            if key not in self._buckets:
                return 0.0
            bucket = self._refilled(key)
            return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / self.rate

    def __len__(self) -> int:
        return len(self._buckets)


def _retry_after(wait: float) -> int:
    return max(1, math.ceil(wait))


class RateLimiter:
    """Per API token (fingerprint): ``rate`` requests/s refill, ``burst`` at once."""

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._buckets = _Buckets(rate, burst, clock, max_keys=None)
        self.rate = rate
        self.burst = burst

    def wait_time(self, key: str) -> float:
        """Take one request from ``key``'s bucket: 0.0 when allowed, else seconds to wait."""
        return self._buckets.take(key)

    def check(self, key: str) -> None:
        """RATE_LIMITED with ``retry_after_seconds`` (whole seconds, at least 1) when over."""
        wait = self.wait_time(key)
        if wait > 0:
            raise SignerError(
                ErrorCode.RATE_LIMITED,
                f"too many requests with this API token (limit {self.rate:g}/s, "
                f"burst {self.burst})",
                hint="slow down and retry after the given number of seconds",
                retry_after_seconds=_retry_after(wait),
            )


@functools.lru_cache(maxsize=4096)  # parsing an address costs more than the whole check
def address_key(host: str) -> str:
    """The bucket of a client address: the address itself, or its /64 for IPv6 (one host
    usually holds a whole /64, so per-address buckets would not bound it)."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host  # not an IP (a Unix socket, a test client): its name is all there is
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class FailedAuthLimiter:
    """Per client address: each failed authentication takes one from the address's bucket;
    ``check`` refuses an address whose bucket is empty."""

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = MAX_ADDRESSES,
    ) -> None:
        self._buckets = _Buckets(rate, burst, clock, max_keys=max_keys)
        self.rate = rate
        self.burst = burst

    def check(self, address: str) -> None:
        """RATE_LIMITED when ``address`` has failed authentication more than the limit."""
        wait = self._buckets.wait(address_key(address))
        if wait > 0:
            raise SignerError(
                ErrorCode.RATE_LIMITED,
                f"too many failed authentications from this address (limit {self.rate:g}/s, "
                f"burst {self.burst})",
                hint="check the API token (Authorization: Bearer <one of SIGNER_API_TOKENS>) "
                "and retry after the given number of seconds",
                retry_after_seconds=_retry_after(wait),
            )

    def failed(self, address: str) -> None:
        """Charge one failed authentication to ``address``."""
        self._buckets.take(address_key(address))

    @property
    def addresses(self) -> int:
        """How many addresses are remembered (bounded by ``max_keys``)."""
        return len(self._buckets)
