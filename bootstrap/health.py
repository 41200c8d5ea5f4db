"""Is a MinIO endpoint up, and is it fully initialised?

MinIO answers ``/minio/health/live`` and ``/minio/health/ready`` with 200 while it is still
initialising; ``/minio/health/cluster`` waits for storage, bucket metadata and IAM. Even then
the S3 API can briefly answer ``503 XMinioServerNotInitialized``, so the last stage asks the
S3 API itself. Each stage's failure is a TemporaryError; ``wait_ready`` retries only those.

``python -m bootstrap.health --endpoint-file FILE`` is the MinIO image's HEALTHCHECK: one
liveness probe of the address the entrypoint recorded (``live_endpoint``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path

import click
import requests
from tenacity import (
    RetryError,
    Retrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_exponential,
)

from common.cli import CONTEXT
from common.errors import ExitCode, TemporaryError, WaitTimeout

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


# --- the MinIO image's HEALTHCHECK ------------------------------------------------------------

# Where MinIO listens unless told otherwise (`minio server` without --address).
DEFAULT_LIVE_ENDPOINT = "http://127.0.0.1:9000"


def live_endpoint(endpoint_file: Path | None) -> str:
    """The endpoint the entrypoint recorded in ``endpoint_file``, or MinIO's default.

    The API address is configurable (``--address :9100``), so a fixed port in the image's
    HEALTHCHECK would call a MinIO listening elsewhere unhealthy. Only the entrypoint knows
    the address it started MinIO with; it writes it down before MinIO starts. No file means
    MinIO was started some other way (``--entrypoint minio``): then its default is right.
    """
    if endpoint_file is None:
        return DEFAULT_LIVE_ENDPOINT
    try:
        recorded = endpoint_file.read_text().strip()
    except FileNotFoundError:
        return DEFAULT_LIVE_ENDPOINT
    return recorded or DEFAULT_LIVE_ENDPOINT


def check_live(endpoint: str, timeout: float) -> None:
    """One GET of ``/minio/health/live``; raises TemporaryError unless it answers 200.

    Liveness only: a container is healthy once MinIO serves HTTP. Cluster health would mark
    every node of a distributed MinIO unhealthy while quorum is briefly lost, and bootstrap
    already waits for full initialisation itself.
    """
    url = endpoint.rstrip("/") + LIVE_PATH
    resp = _get(url, timeout)
    if resp.status_code != 200:
        raise TemporaryError(f"{url}: HTTP {resp.status_code}")


@click.command(context_settings=CONTEXT)
@click.option(
    "--endpoint-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the endpoint `minio-stack entrypoint --endpoint-file` recorded; "
    f"without it, or when it does not exist, {DEFAULT_LIVE_ENDPOINT}.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=4.0,
    show_default=True,
    help="Seconds to wait for the answer.",
)
def main(endpoint_file: Path | None, timeout: float) -> None:
    """Exit 0 when MinIO answers /minio/health/live, 1 otherwise (the image's HEALTHCHECK)."""
    try:
        endpoint = live_endpoint(endpoint_file)
        check_live(endpoint, timeout)
    except OSError as exc:
        click.echo(f"unhealthy: cannot read {endpoint_file}: {exc.strerror}", err=True)
        sys.exit(int(ExitCode.FAILED))
    except TemporaryError as exc:
        click.echo(f"unhealthy: {exc}", err=True)
        sys.exit(int(ExitCode.FAILED))
    click.echo(f"live: {endpoint}")


if __name__ == "__main__":
    main(prog_name="python -m bootstrap.health")
