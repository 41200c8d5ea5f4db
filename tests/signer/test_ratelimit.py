"""The per-token bucket and the per-address failed-authentication bucket, with the clock
passed in."""

from __future__ import annotations

import pytest

from signer.core.errors import ErrorCode, SignerError
from signer.ratelimit import FailedAuthLimiter, RateLimiter, address_key


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


# --- failed authentications, by client address ------------------------------------------------


def test_failures_are_charged_and_checking_takes_nothing() -> None:
    clock = Clock()
    limiter = FailedAuthLimiter(rate=1, burst=3, clock=clock)
    for _ in range(10):
        limiter.check("192.0.2.1")  # an address that never failed is never refused
    for _ in range(3):
        limiter.failed("192.0.2.1")
    with pytest.raises(SignerError) as caught:
        limiter.check("192.0.2.1")
    assert caught.value.code is ErrorCode.RATE_LIMITED
    assert caught.value.retry_after_seconds == 1
    assert "failed authentications" in caught.value.message
    limiter.check("192.0.2.2")  # another address is not affected
    clock.now += 1.0
    limiter.check("192.0.2.1")  # one failure refilled: allowed again


def test_an_ipv6_host_is_limited_by_its_64() -> None:
    assert address_key("2001:db8::1") == address_key("2001:db8::ffff:1") == "2001:db8::/64"
    assert address_key("2001:db8:0:1::1") != address_key("2001:db8::1")
    assert address_key("::ffff:192.0.2.7") == "192.0.2.7"  # IPv4 on a dual-stack socket
    assert address_key("192.0.2.7") == "192.0.2.7"
    assert address_key("testclient") == "testclient"  # not an IP: its name is the key
    limiter = FailedAuthLimiter(rate=1, burst=1, clock=Clock())
    limiter.failed("2001:db8::1")
    with pytest.raises(SignerError):
        limiter.check("2001:db8::2")


def test_the_addresses_remembered_are_bounded() -> None:
    limiter = FailedAuthLimiter(rate=1, burst=1, clock=Clock(), max_keys=100)
    for n in range(1000):
        limiter.failed(f"10.0.{n // 256}.{n % 256}")
    assert limiter.addresses == 100
    # The most recent failures are the ones remembered.
    with pytest.raises(SignerError):
        limiter.check("10.0.3.231")
    limiter.check("10.0.0.0")
