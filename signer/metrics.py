"""Prometheus metrics: requests by route and outcome code, and a latency histogram.

Each app has its own registry (several apps in one process, as in tests, never collide). With
SIGNER_WORKERS > 1 every worker counts its own requests; a scrape sees one of them.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest

OK = "ok"
# Outcomes that are not an answer's error code: the client hung up mid-request (nobody is
# left to answer), or sent its body too slowly (answered 408).
CLIENT_CLOSED = "client_closed"
BODY_TIMEOUT = "body_timeout"
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Presigning is microseconds; a storage round trip milliseconds; the tail shows timeouts.
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "signer_requests",
            "HTTP requests answered, by route and outcome code (ok or an error code).",
            ["route", "code"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "signer_request_duration_seconds",
            "Time to answer an HTTP request, by route.",
            ["route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "signer_rate_limited",
            "Requests refused by a rate limit: 'token' (SIGNER_RATE_LIMIT, per API token) or "
            "'address' (SIGNER_FAILED_AUTH_LIMIT, refused before authentication).",
            ["limit"],
            registry=self.registry,
        )
        # Each label set's child, looked up once: labels() parses its arguments and takes a
        # lock on every call, which costs more than counting.
        self._counters: dict[tuple[str, str], Counter] = {}
        self._timers: dict[str, Histogram] = {}

    def observe(self, route: str, code: str, seconds: float) -> None:
        counter = self._counters.get((route, code))
        if counter is None:
            counter = self._counters[(route, code)] = self.requests.labels(route=route, code=code)
        timer = self._timers.get(route)
        if timer is None:
            timer = self._timers[route] = self.latency.labels(route=route)
        counter.inc()
        timer.observe(seconds)

    def refused(self, limit: str) -> None:
        """Count a request a rate limit refused (``limit``: token or address)."""
        self.rate_limited.labels(limit=limit).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
