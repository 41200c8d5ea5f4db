"""Talking to the storage server: clients, server detection, and temporary vs permanent errors.

Every call made through ``Clients`` retries *temporary* failures only (connection refused,
``503 XMinioServerNotInitialized``, SlowDown) with bounded backoff; anything else (access
denied, bad request) surfaces at once. urllib3's own retries are off so that one place
decides. All writes bootstrap makes are idempotent, so retrying one after a lost answer is
safe.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import requests
import urllib3
from minio.credentials import StaticProvider
from minio.error import MinioAdminException, S3Error
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from bootstrap.health import LIVE_PATH, wait_ready
from bootstrap.settings import Credentials, Settings
from common.errors import PermanentError, StackError, TemporaryError, WaitTimeout
from minio import Minio, MinioAdmin

T = TypeVar("T")

MINIO = "minio"
GENERIC = "s3"
# Keys bootstrap writes to check real behaviour, then removes. Kept under one prefix so a
# reader (or a test counting writes) can tell them from configuration writes.
PROBE_PREFIX = ".minio-stack/"

_TEMPORARY_CODES = {
    "XMinioServerNotInitialized",
    "ServiceUnavailable",
    "SlowDown",
    "XMinioServerBusy",
    "RequestTimeout",
    "InternalError",
}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "XMinioInvalidIAMCredentials"}


def make_http(timeout: float = 30.0) -> urllib3.PoolManager:
    """The connection pool every client of one run shares (tests wrap it to count requests)."""
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=min(10.0, timeout), read=timeout),
        maxsize=10,
        retries=False,
    )


def error_code(exc: BaseException) -> str | None:
    """The S3/admin error code of a minio-py exception (``AccessDenied``...), if any."""
    if isinstance(exc, S3Error):
        return exc.code
    if isinstance(exc, MinioAdminException):
        try:
            return json.loads(exc._body).get("Code")  # noqa: SLF001 - minio-py keeps it private
        except (ValueError, AttributeError, TypeError):
            return None
    return None


def admin_status(exc: MinioAdminException) -> int:
    try:
        return int(exc._code)  # noqa: SLF001
    except (TypeError, ValueError):
        return 0


def is_temporary(exc: BaseException) -> bool:
    if isinstance(exc, TemporaryError):
        return True
    if isinstance(exc, urllib3.exceptions.HTTPError | requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(exc, MinioAdminException) and admin_status(exc) in (500, 502, 503, 504):
        return True
    return error_code(exc) in _TEMPORARY_CODES


def explain(exc: BaseException, *, who: str = "root") -> StackError:
    """Turn a client exception into one line saying what was refused and how to fix it."""
    if isinstance(exc, StackError):
        return exc
    code = error_code(exc)
    if code in _CREDENTIAL_CODES:
        if who == "root":
            return PermanentError(
                f"the server refused the root credentials ({code})",
                hint="set MINIO_ROOT_USER and MINIO_ROOT_PASSWORD to the server's root credentials",
            )
        return PermanentError(f"the server refused {who}'s credentials ({code})")
    if code == "AccessDenied":
        return PermanentError(
            f"the server denied the {who} user access",
            hint="MINIO_ROOT_USER must be the root user (or hold consoleAdmin rights)",
        )
    if is_temporary(exc):
        return TemporaryError(f"server not answering: {_short(exc)}", hint="check MINIO_ENDPOINT")
    if isinstance(exc, S3Error):
        return PermanentError(f"{exc.code}: {exc.message}")
    if isinstance(exc, MinioAdminException):
        return PermanentError(f"admin API answered HTTP {exc._code}: {code or _short(exc)}")  # noqa: SLF001
    return PermanentError(f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


class _Retrying:
    """Wraps a client: each method call retries temporary errors for at most ``budget`` s."""

    def __init__(self, target: Any, budget: float) -> None:
        self._target = target
        self._budget = budget

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return retry_temporary(lambda: attr(*args, **kwargs), self._budget)

        return call


def retry_temporary(fn: Callable[[], T], budget: float) -> T:
    for attempt in Retrying(
        retry=retry_if_exception(is_temporary),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_delay(budget),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable: tenacity either returns or reraises")


@dataclass
class Clients:
    """Everything a step needs to talk to one server, all sharing one connection pool."""

    endpoint: str
    host: str
    secure: bool
    region: str
    root: Credentials
    http: urllib3.PoolManager
    budget: float
    server: str = MINIO
    # What one run has read and may read again (minio_api memoises the ``api`` config here);
    # converge() empties it when a run starts.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def connect(cls, settings: Settings, http: urllib3.PoolManager | None = None) -> Clients:
        return cls(
            endpoint=settings.endpoint,
            host=settings.host,
            secure=settings.secure,
            region=settings.region,
            root=settings.root,
            http=http or make_http(),
            budget=min(30.0, settings.timeout),
        )

    def s3_as(self, creds: Credentials) -> Any:
        # The region is fixed so no call needs s3:GetBucketLocation (the signer lacks it).
        client = Minio(
            self.host,
            credentials=StaticProvider(creds.access_key, creds.secret_key),
            secure=self.secure,
            region=self.region,
            http_client=self.http,
        )
        return _Retrying(client, self.budget)

    def admin_as(self, creds: Credentials) -> Any:
        client = MinioAdmin(
            endpoint=self.host,
            credentials=StaticProvider(creds.access_key, creds.secret_key),
            secure=self.secure,
            region=self.region,
            http_client=self.http,
        )
        return _Retrying(client, self.budget)

    @property
    def s3(self) -> Any:
        return self.s3_as(self.root)

    @property
    def admin(self) -> Any:
        return self.admin_as(self.root)

    def anonymous(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An unsigned request, as a browser or a stranger would send it."""
        url = self.endpoint + path
        return retry_temporary(
            lambda: requests.request(method, url, timeout=10, allow_redirects=False, **kwargs),
            self.budget,
        )

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        return retry_temporary(
            lambda: requests.request(method, url, timeout=10, allow_redirects=False, **kwargs),
            self.budget,
        )


def detect(endpoint: str, timeout: float) -> tuple[str, float]:
    """Wait until the server answers, and say which kind it is: (MINIO or GENERIC, seconds).

    MinIO says ``Server: MinIO``; behind a proxy that drops the header, its
    ``/minio/health/live`` still answers 200. MinIO is then waited for fully
    (``wait_ready``: live → cluster → S3 API); any other server once it answers at all.
    """
    start = time.monotonic()
    base = endpoint.rstrip("/")

    def probe() -> str:
        try:
            resp = requests.get(base + "/", timeout=2, allow_redirects=False)
            if resp.headers.get("Server", "").lower().startswith("minio"):
                return MINIO
            live = requests.get(base + LIVE_PATH, timeout=2, allow_redirects=False)
        except requests.RequestException as exc:
            raise TemporaryError(f"{base}: {_short(exc)}") from exc
        if live.status_code == 200:
            return MINIO
        if resp.status_code >= 500:
            raise TemporaryError(f"{base}/: HTTP {resp.status_code}")
        return GENERIC

    try:
        kind = Retrying(
            retry=retry_if_exception(is_temporary),
            wait=wait_exponential(multiplier=0.1, max=2.0),
            stop=stop_after_delay(timeout),
        )(probe)
    except RetryError as exc:
        raise WaitTimeout(
            f"{endpoint} not ready after {timeout:g}s; last seen: {exc.last_attempt.exception()}",
            hint="check that the server is running and MINIO_ENDPOINT points at it",
        ) from None
    if kind == MINIO:
        wait_ready(endpoint, max(1.0, timeout - (time.monotonic() - start)))
    return kind, time.monotonic() - start


def check_credentials(clients: Clients) -> None:
    """One authenticated read, so wrong root credentials fail before anything is planned."""
    try:
        if clients.server == MINIO:
            clients.admin.account_info()
        else:
            clients.s3.list_buckets()
    except (S3Error, MinioAdminException, urllib3.exceptions.HTTPError) as exc:
        raise explain(exc) from None


def is_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes
