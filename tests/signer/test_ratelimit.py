"""The per-token bucket, with the clock passed in."""

from __future__ import annotations

import pytest

from signer.core.errors import ErrorCode, SignerError
from signer.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refill_at_the_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=2, burst=3, clock=clock)
    assert [limiter.wait_time("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_time("a") == pytest.approx(0.5)
    clock.now += 0.5
    assert limiter.wait_time("a") == 0.0
    clock.now += 100  # refills only up to the burst
    assert [limiter.wait_time("a") for _ in range(4)][-1] > 0


def test_keys_are_independent() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=Clock())
    assert limiter.wait_time("a") == 0.0
    assert limiter.wait_time("a") > 0
    assert limiter.wait_time("b") == 0.0


def test_check_says_when_to_retry_in_whole_seconds() -> None:
    limiter = RateLimiter(rate=0.1, burst=1, clock=Clock())
    limiter.check("a")
    with pytest.raises(SignerError) as caught:
        limiter.check("a")
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert caught.value.retry_after_seconds == 10


def test_nonsense_limits_are_refused() -> None:
    for rate, burst in ((0, 1), (1, 0)):
        with pytest.raises(ValueError):
            RateLimiter(rate, burst)
