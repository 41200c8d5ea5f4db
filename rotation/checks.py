"""Questions asked of the server during a rotation: which credentials does it accept now?

Every answer comes from the server itself: an authenticated ``accountinfo`` call (any
identity may make it) tells accepted from refused; the signer's identity must also reach its
bucket the way the signer does (a HEAD of a missing key answers NoSuchKey, not AccessDenied);
and a presigned GET, signed exactly as the signer signs, must download.
"""

from __future__ import annotations

import contextlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import requests
from minio.error import MinioAdminException, S3Error

from bootstrap.s3 import (
    PROBE_PREFIX,
    Clients,
    error_code,
    explain,
    make_http,
    put_bytes,
    retry_temporary,
)
from bootstrap.settings import Credentials
from common.errors import PermanentError, TemporaryError
from common.s3vocab import CREDENTIAL_CODES, NOT_FOUND_CODES
from signer.core.sigv4 import presign_url

PROBE_URL_TTL = 300


@dataclass(frozen=True)
class Server:
    endpoint: str
    region: str
    budget: float = 30.0  # how long one call retries temporary errors (a restart settling)

    def clients(self, creds: Credentials) -> Clients:
        parts = urlsplit(self.endpoint)
        return Clients(
            endpoint=self.endpoint,
            host=parts.netloc,
            secure=parts.scheme == "https",
            region=self.region,
            root=creds,
            http=make_http(timeout=min(30.0, self.budget)),
            budget=self.budget,
        )


def refusal(server: Server, creds: Credentials) -> str | None:
    """None when the server accepts ``creds``; else its refusal code. Unreachable: raises."""
    clients = server.clients(creds)
    try:
        clients.retry(clients.admin.account_info)
    except (MinioAdminException, S3Error) as exc:
        code = error_code(exc)
        if code in CREDENTIAL_CODES:
            return code
        raise explain(exc) from None
    except Exception as exc:  # urllib3/requests errors after the retry budget
        raise TemporaryError(f"{server.endpoint} is not answering: {type(exc).__name__}") from None
    return None


def require_accepted(server: Server, creds: Credentials, who: str) -> None:
    code = refusal(server, creds)
    if code is not None:
        raise PermanentError(f"the server refused the {who} credentials ({code})")


def require_refused(server: Server, creds: Credentials, who: str) -> str:
    code = refusal(server, creds)
    if code is None:
        raise PermanentError(f"the server still accepts the {who} credentials")
    return code


def signer_reaches(server: Server, signer: Credentials, buckets: tuple[str, ...]) -> None:
    """The signer's identity is accepted and can use each of its buckets."""
    require_accepted(server, signer, f"signer's ({signer.access_key})")
    clients = server.clients(signer)
    s3 = clients.s3
    for bucket in buckets:
        try:
            missing = f"{PROBE_PREFIX}rotation-missing-{secrets.token_hex(6)}"
            clients.retry(s3.stat_object, bucket, missing)
        except S3Error as exc:
            if exc.code in NOT_FOUND_CODES:
                continue
            raise PermanentError(
                f"the signer ({signer.access_key}) cannot use bucket {bucket} ({exc.code})",
                hint="run `minio-stack bootstrap` to restore its policy",
            ) from None
        raise PermanentError(f"a HEAD of a missing key in {bucket} succeeded")


class Probe:
    """An object in a bucket, written as root, that presigned GETs are checked against."""

    def __init__(self, server: Server, root: Credentials, bucket: str) -> None:
        self.server = server
        self.bucket = bucket
        self.key = f"{PROBE_PREFIX}rotation-probe-{secrets.token_hex(6)}"
        self.body = secrets.token_bytes(32)
        self._clients = server.clients(root)
        self._s3 = self._clients.s3

    def __enter__(self) -> Probe:
        self._clients.retry(put_bytes, self._s3, self.bucket, self.key, self.body)
        return self

    def __exit__(self, *exc: object) -> None:
        # Best effort: a leftover probe is ignored by every inventory and check.
        with contextlib.suppress(Exception):
            self._clients.retry(self._s3.remove_object, self.bucket, self.key)

    def url(self, creds: Credentials) -> str:
        return presign_url(
            method="GET",
            endpoint=self.server.endpoint,
            bucket=self.bucket,
            key=self.key,
            access_key=creds.access_key,
            secret_key=creds.secret_key,
            region=self.server.region,
            expires=PROBE_URL_TTL,
            now=datetime.now(UTC),
        )

    def downloads(self, creds: Credentials) -> bool:
        """Does a URL presigned with ``creds`` download the probe? (403: no.)"""
        url = self.url(creds)
        try:
            resp = retry_temporary(lambda: _get_or_raise_temporary(url), self.server.budget)
        except requests.RequestException as exc:
            raise TemporaryError(f"{self.server.endpoint}: {type(exc).__name__}") from None
        if resp.status_code == 200:
            if resp.content != self.body:
                raise PermanentError(f"the probe {self.bucket}/{self.key} came back different")
            return True
        if resp.status_code == 403:
            return False
        raise PermanentError(f"a presigned GET answered HTTP {resp.status_code}")


def _get_or_raise_temporary(url: str) -> requests.Response:
    resp = requests.get(url, timeout=10)
    if resp.status_code in (500, 502, 503, 504):
        raise TemporaryError(f"HTTP {resp.status_code}")
    return resp
