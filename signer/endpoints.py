"""Does SIGNER_PUBLIC_ENDPOINT reach the storage the signer itself writes to?

URLs are signed for the public endpoint's host, while the signer's own calls go to
SIGNER_S3_ENDPOINT (on Render, minio-server's private address). Nothing else ties the two
together: a public URL naming someone else's service (``https://minio-server.onrender.com``
is almost surely taken), or the console's URL, gives a signer that answers every request
and hands out URLs that fail only when a client uses them. So before the signer calls itself
ready, it proves the pair: it writes a nonce object through the private endpoint, reads it back
through the public one with a GET URL it presigns for itself, then deletes it. A failure names
the variable to fix.

Nothing is proved, and nothing is sent, when there is nothing to prove: both endpoints are the
same URL, or the public host is a loopback name while the signer's own endpoint is not (Compose
signs for ``http://localhost:9000``, the machine the client runs on, which the signer's own
container cannot reach).

``/readyz`` answers 503 until the proof succeeds. The signer also starts proving at once, in
the background (``watch``), and logs each failure: on Render the signer is a private service,
which gets TCP health checks only, so nothing there ever calls ``/readyz`` and the log is where
a wrong value shows. A proof holds for the life of the process (both URLs are fixed at start).
A failure is kept for a few seconds, so a probe polling ``/readyz`` does not write an object on
every call.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
import threading
import time
import xml.etree.ElementTree as ET  # noqa: S405 - parses answers of the signer's own storage
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests

from common.s3vocab import PROBES_PREFIX
from signer.core.errors import ErrorCode, SignerError
from signer.settings import Settings
from signer.storage import Access, refusal

log = logging.getLogger("signer")
PROBE_PREFIX = f"{PROBES_PREFIX}signer-endpoint-"
RETRY_AFTER_SECONDS = 5
# A failed proof is answered again from memory for this long: the next real attempt writes
# another object, and health probes call /readyz every few seconds.
FAILURE_HOLD_SECONDS = 5.0
# The background proof retries after this, doubling up to the maximum (MinIO may still be
# starting: on Render the two services deploy at the same time).
WATCH_FIRST_RETRY_SECONDS = 5.0
WATCH_MAX_RETRY_SECONDS = 300.0
PUBLIC = "SIGNER_PUBLIC_ENDPOINT"
PRIVATE = "SIGNER_S3_ENDPOINT"
HINT = (
    f"set {PUBLIC} to the URL clients use to reach the same MinIO that {PRIVATE} reaches "
    "(on Render: minio-server's public URL, shown on its Dashboard page, or its custom domain)"
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower().rstrip(".")
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def needs_proof(private: str, public: str) -> bool:
    """False when nothing can be proved or there is nothing to prove (see the module doc)."""
    if private == public:
        return False
    private_host = urlsplit(private).hostname or ""
    public_host = urlsplit(public).hostname or ""
    return not (is_loopback(public_host) and not is_loopback(private_host))


def _error_code(body: bytes) -> str | None:
    try:
        root = ET.fromstring(body)  # noqa: S314 - an S3 error document, or not XML at all
    except ET.ParseError:
        return None
    found = root.find("{*}Code")
    return found.text if found is not None else None


def _utcnow() -> datetime:
    return datetime.now(UTC)


class PublicEndpointCheck:
    """Proves SIGNER_PUBLIC_ENDPOINT against SIGNER_S3_ENDPOINT; thread-safe, one proof at a
    time. ``verify()`` returns when proved (or when there is nothing to prove) and raises
    ``SignerError(storage_denied)`` naming the variable otherwise."""

    def __init__(
        self, access: Access, *, public: str, clock: Callable[[], datetime] = _utcnow
    ) -> None:
        self.access = access
        self.private = access.endpoint
        self.public = public
        self._clock = clock
        self._lock = threading.Lock()
        self._proved = not needs_proof(self.private, public)
        self._failure: tuple[float, SignerError] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> PublicEndpointCheck:
        return cls(Access.from_settings(settings), public=settings.public_endpoint)

    @property
    def proved(self) -> bool:
        return self._proved

    def verify(self) -> None:
        with self._lock:
            if self._proved:
                return
            if self._failure and time.monotonic() - self._failure[0] < FAILURE_HOLD_SECONDS:
                raise self._failure[1]
            try:
                self._prove()
            except SignerError as exc:
                if self._failure is None or self._failure[1].message != exc.message:
                    log.warning("not ready: %s", exc)
                self._failure = (time.monotonic(), exc)
                raise
            self._proved, self._failure = True, None
            log.info("%s %s serves what %s %s stores", PUBLIC, self.public, PRIVATE, self.private)

    def watch(self) -> Callable[[], None]:
        """Prove in a background thread now, retrying with a growing delay until proved or
        stopped; ``verify`` logs each new failure. Returns the function that stops it."""
        if self._proved:
            return lambda: None
        stop = threading.Event()

        def run() -> None:
            delay = WATCH_FIRST_RETRY_SECONDS
            while not stop.is_set():
                try:
                    self.verify()
                    return
                except SignerError:
                    pass
                if stop.wait(delay):
                    return
                delay = min(delay * 2, WATCH_MAX_RETRY_SECONDS)

        threading.Thread(target=run, name="public-endpoint-proof", daemon=True).start()
        return stop.set

    # --- one proof ------------------------------------------------------------------------

    def _url(self, method: str, endpoint: str, key: str) -> str:
        return self.access.url(method, key, endpoint=endpoint, now=self._clock())

    def _prove(self) -> None:
        key = PROBE_PREFIX + secrets.token_hex(16)
        nonce = secrets.token_bytes(32)
        with requests.Session() as http:
            self._write(http, key, nonce)
            try:
                self._read_back(http, key, nonce)
            finally:
                # A 32-byte probe left behind costs nothing; the proof is what matters.
                with contextlib.suppress(requests.RequestException):
                    http.delete(self._url("DELETE", self.private, key), timeout=self.access.timeout)

    def _write(self, http: requests.Session, key: str, nonce: bytes) -> None:
        try:
            answer = http.put(
                self._url("PUT", self.private, key), data=nonce, timeout=self.access.timeout
            )
        except requests.RequestException as exc:
            raise SignerError(
                ErrorCode.STORAGE_DENIED,
                f"storage at {PRIVATE} {self.private} did not answer ({type(exc).__name__})",
                hint=f"storage is unreachable or starting; check {PRIVATE} if this persists",
                retry_after_seconds=RETRY_AFTER_SECONDS,
            ) from None
        if answer.status_code != 200:
            code = _error_code(answer.content)
            raise refusal(answer.status_code, code, None, f"store a probe through {PRIVATE}")

    def _read_back(self, http: requests.Session, key: str, nonce: bytes) -> None:
        try:
            answer = http.get(self._url("GET", self.public, key), timeout=self.access.timeout)
        except requests.RequestException as exc:
            raise SignerError(
                ErrorCode.STORAGE_DENIED,
                f"{PUBLIC} {self.public} did not answer ({type(exc).__name__}), so URLs signed "
                "for it would not work",
                hint=HINT,
                retry_after_seconds=RETRY_AFTER_SECONDS,
            ) from None
        if answer.status_code == 200 and answer.content == nonce:
            return
        code = _error_code(answer.content)
        if answer.status_code == 200:
            seen = "HTTP 200 with other content"
        else:
            seen = f"HTTP {answer.status_code}" + (f" {code}" if code else "")
        raise SignerError(
            ErrorCode.STORAGE_DENIED,
            f"{PUBLIC} {self.public} does not reach the storage at {PRIVATE} {self.private}: "
            f"an object the signer wrote there was not served back through it ({seen})",
            hint=HINT,
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
