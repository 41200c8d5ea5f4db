"""Talking to the storage server: typed clients, whole-operation retries, error kinds.

``Clients`` hands out minio-py's own typed clients (``Minio``, ``MinioAdmin``) and runs every
storage operation through ``Clients.retry``, which retries *temporary* failures only
(connection refused, ``503 XMinioServerNotInitialized``, SlowDown) with bounded backoff;
anything else (access denied, bad request) surfaces at once. A retry repeats the whole
operation: minio-py's listings are lazy generators that fetch pages while they are iterated,
so a listing is retried as a function that iterates it to the end, and a download as one that
reads the body — retrying only the call that creates the generator would retry nothing.
urllib3's own retries are off so that one place decides. All writes bootstrap makes are
idempotent, so retrying one after a lost answer is safe.

The few S3 calls minio-py has no API for (bucket CORS) are signed with the project's own SigV4
(``signer.core.sigv4``) and sent through the same pool; their error answers become the
``S3Error`` minio-py would raise, so ``is_code`` and ``explain`` read them like any other.
The same goes for the few MinIO admin routes minio-py 7.2 has no method for
(``Clients.admin_call``), whose error answers become its ``MinioAdminException``. MinIO's
admin API refuses presigned requests (its ``validateAdminSignature`` takes only a signed
``Authorization`` header with ``X-Amz-Content-Sha256``; a presigned one answers
AccessDenied), so those are signed in their headers (``sign_request``).
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError  # noqa: S405 - only the exception type

import requests
import urllib3
from minio.credentials.providers import StaticProvider
from minio.crypto import decrypt
from minio.datatypes import Object
from minio.error import MinioAdminException, S3Error
from tenacity import RetryError, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from bootstrap.health import LIVE_PATH, wait_ready
from bootstrap.settings import Credentials, Settings
from common.errors import PermanentError, StackError, TemporaryError, WaitTimeout
from common.s3vocab import CREDENTIAL_CODES, PROBES_PREFIX, TEMPORARY_CODES
from minio import Minio, MinioAdmin
from signer.core.sigv4 import presign_url, sign_request

T = TypeVar("T")
P = ParamSpec("P")

MINIO = "minio"
GENERIC = "s3"
# Keys bootstrap writes to check real behaviour, then removes: the kit's probes, so a reader
# (or a test counting writes) can tell them from configuration writes.
PROBE_PREFIX = PROBES_PREFIX
# Each attempt of a raw call signs a fresh URL and sends it at once: a short life is plenty.
RAW_URL_TTL = 60
ADMIN_PATH = "/minio/admin/v3/"
_ADMIN_OK = (200, 204, 206)  # the statuses minio-py's admin client takes for success
# An error answer without an S3 XML body (a HEAD, a proxy's HTML page) is named by its HTTP
# status, as minio-py names it for a bucket-level call (403, 404, 405, 501); the 5xx get the
# codes S3 itself uses for them, so is_temporary knows them. A gateway's 502/504 means the
# storage behind it did not answer.
_CODE_OF_STATUS = {
    403: "AccessDenied",
    404: "NoSuchBucket",
    405: "MethodNotAllowed",
    500: "InternalError",
    501: "NotImplemented",
    502: "ServiceUnavailable",
    503: "ServiceUnavailable",
    504: "ServiceUnavailable",
}


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
            # minio-py keeps the admin answer's body private and offers no accessor for it.
            code = json.loads(exc._body).get("Code")  # noqa: SLF001
        except (ValueError, AttributeError, TypeError):
            return None
        return code if isinstance(code, str) else None
    return None


def admin_status(exc: MinioAdminException) -> int:
    try:
        return int(exc._code)  # noqa: SLF001 - as error_code: no public accessor
    except (TypeError, ValueError):
        return 0


def is_temporary(exc: BaseException) -> bool:
    if isinstance(exc, TemporaryError):
        return True
    if isinstance(exc, urllib3.exceptions.HTTPError | requests.ConnectionError | requests.Timeout):
        return True
    if isinstance(exc, MinioAdminException) and admin_status(exc) in (500, 502, 503, 504):
        return True
    return error_code(exc) in TEMPORARY_CODES


def is_code(exc: BaseException, *codes: str) -> bool:
    return error_code(exc) in codes


def explain(exc: BaseException, *, who: str = "root") -> StackError:
    """Turn a client exception into one line saying what was refused and how to fix it."""
    if isinstance(exc, StackError):
        return exc
    code = error_code(exc)
    if code in CREDENTIAL_CODES:
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
        return PermanentError(f"{exc.code}: {exc.message}" if exc.code else f"{exc.message}")
    if isinstance(exc, MinioAdminException):
        status = exc._code  # noqa: SLF001 - as error_code: no public accessor
        return PermanentError(f"admin API answered HTTP {status}: {code or _short(exc)}")
    return PermanentError(f"{type(exc).__name__}: {_short(exc)}")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def retry_temporary(fn: Callable[[], T], budget: float) -> T:
    """``fn()``, run again from the start on a temporary error for at most ``budget`` s."""
    for attempt in Retrying(
        retry=retry_if_exception(is_temporary),
        wait=wait_exponential(multiplier=0.1, max=2.0),
        stop=stop_after_delay(budget),
        reraise=True,
    ):
        with attempt:
            return fn()
    raise AssertionError("unreachable: tenacity either returns or reraises")


def admin_error(resp: urllib3.BaseHTTPResponse) -> MinioAdminException:
    """An admin error answer as the ``MinioAdminException`` minio-py raises for it: the status
    as text and the body (JSON ``{"Code": ...}``) as text, or as hex when it is not UTF-8."""
    data = resp.data
    try:
        body = data.decode()
    except UnicodeDecodeError:
        body = data.hex()
    return MinioAdminException(str(resp.status), body)


def error_from_answer(resp: urllib3.BaseHTTPResponse, bucket: str) -> S3Error:
    """An S3 error answer as the ``S3Error`` minio-py raises for it."""
    try:
        error: S3Error | None = S3Error.fromxml(resp)
    except (ParseError, UnicodeDecodeError):
        error = None
    if error is not None and error.code:
        return error
    code = _CODE_OF_STATUS.get(resp.status)
    return S3Error(resp, code, f"HTTP {resp.status}", f"/{bucket}", None, None, bucket)


# Whole operations to hand to Clients.retry, each complete in itself: a retry repeats all of it.


def first_object(s3: Minio, bucket: str, prefix: str | None = None) -> Object | None:
    """The first entry of a listing: one page, never the whole of a large bucket."""
    listing: Iterator[Object] = s3.list_objects(bucket, prefix=prefix)
    return next(listing, None)


def put_bytes(s3: Minio, bucket: str, key: str, data: bytes) -> None:
    # A fresh stream each time: a retry must send the bytes again, not a drained stream.
    s3.put_object(bucket, key, io.BytesIO(data), len(data))


def read_bytes(s3: Minio, bucket: str, key: str) -> bytes:
    """An object's bytes: the request and the read of its body fail or succeed together."""
    resp = s3.get_object(bucket, key)
    try:
        return resp.read()
    finally:
        resp.close()
        resp.release_conn()


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

    def retry(self, operation: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """``operation(*args, **kwargs)``, run again from the start on a temporary error until
        the budget is spent. Pass the whole operation: a listing as a function that iterates
        it, a download as one that reads the body."""
        return retry_temporary(lambda: operation(*args, **kwargs), self.budget)

    def s3_as(self, creds: Credentials) -> Minio:
        # The region is fixed so no call needs s3:GetBucketLocation (the signer lacks it).
        return Minio(
            self.host,
            credentials=StaticProvider(creds.access_key, creds.secret_key),
            secure=self.secure,
            region=self.region,
            http_client=self.http,
        )

    def admin_as(self, creds: Credentials) -> MinioAdmin:
        return MinioAdmin(
            endpoint=self.host,
            credentials=StaticProvider(creds.access_key, creds.secret_key),
            secure=self.secure,
            region=self.region,
            http_client=self.http,
        )

    @property
    def s3(self) -> Minio:
        return self.s3_as(self.root)

    @property
    def admin(self) -> MinioAdmin:
        return self.admin_as(self.root)

    def bucket_call(
        self,
        method: str,
        bucket: str,
        operation: str,
        *,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> bytes:
        """A bucket sub-resource call minio-py has no API for (``?cors``), as root; retried
        like any operation. Returns the answer's body; an error answer raises ``S3Error``."""
        return self.retry(self._bucket_call_once, method, bucket, operation, body, headers or {})

    def _bucket_call_once(
        self,
        method: str,
        bucket: str,
        operation: str,
        body: bytes | None,
        headers: Mapping[str, str],
    ) -> bytes:
        # presign_url names an object by bucket and key; a bucket-level call has no key, so the
        # bucket is passed as the path's one segment (path style, as minio-py addresses it).
        url = presign_url(
            method=method,
            endpoint=self.endpoint,
            bucket=None,
            key=bucket,
            access_key=self.root.access_key,
            secret_key=self.root.secret_key,
            region=self.region,
            expires=RAW_URL_TTL,
            now=datetime.now(UTC),
            headers=headers,
            query={operation: ""},
        )
        resp = self.http.request(method, url, body=body, headers=dict(headers), redirect=False)
        if resp.status >= 300:
            raise error_from_answer(resp, bucket)
        return resp.data

    def admin_call(
        self,
        method: str,
        command: str,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        creds: Credentials | None = None,
        *,
        encrypted: bool = False,
    ) -> bytes:
        """A MinIO admin route minio-py has no method for (``/minio/admin/v3/<command>``), as
        ``creds`` (root unless given); retried like any operation. Returns the answer's body,
        decrypted when the route is ``encrypted`` (MinIO encrypts it with the caller's secret);
        an error answer raises ``MinioAdminException``, as minio-py's own admin calls do."""
        return self.retry(
            self._admin_call_once, method, command, query or {}, body, creds or self.root, encrypted
        )

    def _admin_call_once(
        self,
        method: str,
        command: str,
        query: Mapping[str, str],
        body: bytes | None,
        creds: Credentials,
        encrypted: bool,
    ) -> bytes:
        url, headers = sign_request(
            method=method,
            endpoint=self.endpoint,
            path=ADMIN_PATH + command,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            region=self.region,
            now=datetime.now(UTC),
            query=query,
            body=body or b"",
        )
        # An encrypted answer is streamed into the decrypter, as minio-py reads one.
        resp = self.http.request(
            method, url, body=body, headers=headers, redirect=False, preload_content=not encrypted
        )
        if resp.status not in _ADMIN_OK:
            error = admin_error(resp)  # reads the whole (short) answer
            resp.release_conn()
            raise error
        if not encrypted:
            return resp.data
        try:
            # Reads the answer to its end, then closes it and hands the connection back.
            return decrypt(resp, creds.secret_key)
        except BaseException:
            resp.close()  # half read: the connection must not be reused
            resp.release_conn()
            raise

    def anonymous(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An unsigned request, as a browser or a stranger would send it."""
        return self.send(method, self.endpoint + path, **kwargs)

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One raw request, retried while the server is not ready to answer it: a 502, 503
        or 504 (a MinIO node still initialising says 503 XMinioServerNotInitialized, and a
        balancer may send the request to it) is retried within the budget, never judged."""

        def once() -> requests.Response:
            resp = requests.request(method, url, timeout=10, allow_redirects=False, **kwargs)
            if resp.status_code in (502, 503, 504):
                # The path only: a presigned URL's query carries a signature.
                raise TemporaryError(f"{method} {urlsplit(url).path}: HTTP {resp.status_code}")
            return resp

        return self.retry(once)


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
            clients.retry(clients.admin.account_info)
        else:
            clients.retry(clients.s3.list_buckets)
    except (S3Error, MinioAdminException, urllib3.exceptions.HTTPError) as exc:
        raise explain(exc) from None
