"""Is a MinIO endpoint up, and is it fully initialised?

MinIO answers ``/minio/health/live`` and ``/minio/health/ready`` with 200 while it is still
initialising; ``/minio/health/cluster`` waits for storage, bucket metadata and IAM. Even then
the S3 API can briefly answer ``503 XMinioServerNotInitialized``, so the last stage asks the
S3 API itself. Each stage's failure is a TemporaryError; ``wait_ready`` retries only those.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from common.errors import TemporaryError, WaitTimeout

LIVE_PATH = "/minio/health/live"
CLUSTER_PATH = "/minio/health/cluster"


@dataclass(frozen=True)
class Ready:
    endpoint: str
    seconds: float
    attempts: int


def _get(url: str, timeout: float) -> requests.Response:
    try:
        return requests.get(url, timeout=timeout, allow_redirects=False)
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else "cannot connect"
        raise TemporaryError(f"{url}: {reason}") from exc
    except requests.Timeout as exc:
        raise TemporaryError(f"{url}: no answer within {timeout:g}s") from exc


def probe(endpoint: str, timeout: float = 2.0) -> None:
    """One pass over live → cluster → S3 API.

    Returns when ready; raises TemporaryError otherwise.
    """
    base = endpoint.rstrip("/")
    for path in (LIVE_PATH, CLUSTER_PATH):
        resp = _get(base + path, timeout)
        if resp.status_code != 200:
            raise TemporaryError(f"{base}{path}: HTTP {resp.status_code}")
    # An unauthenticated request: 403 AccessDenied once the S3 layer serves, 503 before.
    resp = _get(base + "/", timeout)
    if resp.status_code == 503 or "XMinioServerNotInitialized" in resp.text:
        raise TemporaryError(f"{base}/: HTTP {resp.status_code} XMinioServerNotInitialized")


def wait_ready(
    endpoint: str,
    timeout: float = 60.0,
    *,
    initial_delay: float = 0.1,
    max_delay: float = 2.0,
) -> Ready:
    """Probe until ready, with bounded exponential backoff, for at most ``timeout`` seconds.

    Raises WaitTimeout carrying what the last probe saw.
    """
    start = time.monotonic()
    retrying = Retrying(
        retry=retry_if_exception_type(TemporaryError),
        wait=wait_exponential(multiplier=initial_delay, max=max_delay),
        stop=stop_after_delay(timeout),
        reraise=False,
    )
    try:
        for attempt in retrying:
            with attempt:
                # Never let one probe outlive the overall deadline.
                left = max(0.2, timeout - (time.monotonic() - start))
                probe(endpoint, timeout=min(2.0, left))
    except RetryError as exc:
        last = exc.last_attempt.exception()
        raise WaitTimeout(
            f"{endpoint} not ready after {timeout:g}s; last seen: {last}",
            hint="check that MinIO is running and MINIO_ENDPOINT points at it",
        ) from None
    return Ready(endpoint, time.monotonic() - start, retrying.statistics.get("attempt_number", 1))
