"""Every call the signer makes to storage, with the signer's own (bucket-scoped) keys.

minio-py's public API where it has one (stat, remove, bucket check). Create/complete/abort of
multipart uploads, listing parts, the server-side copy that promotes a staged upload and the
conditional marker PUT have no public minio-py API, so they go through a short-lived URL from
``signer.core.sigv4.presign_url`` and ``requests``: a presigned URL works for any S3
operation, and no private minio-py method is needed.

Single-PUT and form uploads land on a staging key, ``.minio-stack/staging/<intent id>``;
``promote`` is how complete moves one to its object key, and it never overwrites: S3 offers
no conditional copy that MinIO honours (it ignores ``If-None-Match`` on CopyObject), but it
honours ``If-None-Match: *`` on CompleteMultipartUpload, so the copy is a one-part multipart
upload completed that way.

Storage's refusals become ``SignerError``s the client can act on; nothing here echoes a URL
(it would carry a signature) or a key. Calls are bounded by SIGNER_STORAGE_TIMEOUT (a
promotion's copy by more, as it grows with the size) and not retried here: a client retries
the whole (idempotent) API call instead.
"""

from __future__ import annotations

import contextlib
import json
import xml.etree.ElementTree as ET  # noqa: S405 - parses answers of our own storage server
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit
from xml.sax.saxutils import escape

import requests
import urllib3
from minio.error import S3Error, ServerError

from common.s3vocab import (
    CREDENTIAL_CODES,
    INTENTS_PREFIX,
    NOT_FOUND_CODES,
    STAGING_PREFIX,
    TEMPORARY_CODES,
)
from minio import Minio
from signer.core.errors import ErrorCode, SignerError
from signer.core.sigv4 import presign_url
from signer.settings import Settings

# Internal URLs are used at once; a short life keeps a leaked one useless.
INTERNAL_URL_TTL = 60
RETRY_AFTER_SECONDS = 5
MAX_LIST_PAGES = 11  # 10,000 parts at 1,000 per page, plus one
# A server-side copy answers only when it is done, so its read timeout grows with the size:
# at least this rate (measured: MinIO copies about 400 MiB/s on a 2-core test machine).
COPY_FLOOR_BYTES_PER_SECOND = 32 * 1024 * 1024
# Headers storage keeps from an upload request and serves back on every GET: the ones a
# client could add to a presigned PUT without the signature covering them.
SERVED_HEADERS = frozenset(
    {"cache-control", "content-disposition", "content-encoding", "content-language", "expires"}
)
_S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
KMS_HINT = (
    "storage cannot do the server-side encryption the profile requires: MinIO answers "
    "NotImplemented without a KMS; configure one (MINIO_KMS_*) or remove "
    "x-amz-server-side-encryption from the profile's required_headers"
)


@dataclass(frozen=True)
class Access:
    """The storage the signer calls and its (bucket-scoped) keys there: one value for every
    piece that talks to storage with them (``Storage``, the public-endpoint proof)."""

    endpoint: str  # SIGNER_S3_ENDPOINT
    bucket: str
    access_key: str
    secret_key: str = field(repr=False)
    region: str = "us-east-1"
    timeout: float = 10.0  # seconds; SIGNER_STORAGE_TIMEOUT

    @classmethod
    def from_settings(cls, settings: Settings) -> Access:
        return cls(
            endpoint=settings.s3_endpoint,
            bucket=settings.bucket,
            access_key=settings.access_key,
            secret_key=settings.secret_key,
            region=settings.region,
            timeout=settings.storage_timeout,
        )

    def url(
        self,
        method: str,
        key: str,
        *,
        now: datetime,
        endpoint: str | None = None,
        bucket: str | None = "",
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """A short-lived presigned URL for one call, signed for ``endpoint`` (default: the
        signer's own) and ``bucket`` (default: the signer's; None for a bucket-level call,
        whose name is then ``key``)."""
        return presign_url(
            method=method,
            endpoint=endpoint or self.endpoint,
            bucket=self.bucket if bucket == "" else bucket,
            key=key,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            expires=INTERNAL_URL_TTL,
            now=now,
            headers=headers,
            query=query,
        )


@dataclass(frozen=True)
class StoredObject:
    key: str
    size: int
    etag: str
    content_type: str
    metadata: Mapping[str, str]
    # SERVED_HEADERS the object carries, lower-cased names.
    served: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StoredPart:
    part_number: int
    etag: str
    size: int


class UploadGone(Exception):
    """Storage has no such multipart upload (completed, aborted, or expired)."""


class SourceChanged(Exception):
    """The object a promotion copies from is gone or no longer the one that was checked."""


def staging_key(jti: str) -> str:
    """Where intent ``jti``'s single PUT or form upload lands until complete promotes it."""
    return STAGING_PREFIX + jti


def _unreachable(endpoint: str, exc: BaseException) -> SignerError:
    return SignerError(
        ErrorCode.STORAGE_DENIED,
        f"storage at {endpoint} did not answer ({type(exc).__name__})",
        hint="storage is unreachable or slow; retry shortly",
        retry_after_seconds=RETRY_AFTER_SECONDS,
    )


def refusal(status: int, code: str | None, message: str | None, what: str) -> SignerError:
    """A storage refusal as the signer's error, with a hint that says what to fix."""
    code = code or f"HTTP {status}"
    text = f"storage refused to {what}: {code}"
    if message:
        text += f" ({message})"
    if status == 501 or code == "NotImplemented":
        return SignerError(ErrorCode.STORAGE_DENIED, text, hint=KMS_HINT)
    if code in CREDENTIAL_CODES:
        return SignerError(
            ErrorCode.STORAGE_DENIED,
            text,
            hint="storage does not accept the signer's keys; check SIGNER_ACCESS_KEY and "
            "SIGNER_SECRET_KEY (minio-stack bootstrap creates them)",
        )
    if code == "AuthorizationHeaderMalformed" and "region" in (message or ""):
        return SignerError(
            ErrorCode.STORAGE_DENIED,
            text,
            hint="storage is in another region than the signer signs for: set S3_REGION (or "
            "MINIO_REGION, which MinIO reads too) to the region the message names",
        )
    if code == "AccessDenied":
        return SignerError(
            ErrorCode.STORAGE_DENIED,
            text,
            hint="the signer's identity lacks a permission on the bucket; re-run "
            "minio-stack bootstrap to restore its policy",
        )
    if code == "NoSuchBucket":
        return SignerError(
            ErrorCode.STORAGE_DENIED, text, hint="create the bucket with minio-stack bootstrap"
        )
    if status >= 500 or code in TEMPORARY_CODES:
        return SignerError(
            ErrorCode.STORAGE_DENIED,
            text,
            hint="storage is busy or starting; retry shortly",
            retry_after_seconds=RETRY_AFTER_SECONDS,
        )
    return SignerError(ErrorCode.STORAGE_DENIED, text)


def _parse_xml(body: bytes) -> ET.Element | None:
    try:
        return ET.fromstring(body)  # noqa: S314 - our own storage server's answer
    except ET.ParseError:
        return None


def _text(element: ET.Element | None, name: str) -> str | None:
    if element is None:
        return None
    found = element.find(f"{_S3_NS}{name}")
    if found is None:
        found = element.find(name)
    return found.text if found is not None else None


def _error_of(body: bytes) -> tuple[str | None, str | None]:
    root = _parse_xml(body)
    if root is None or root.tag.removeprefix(_S3_NS) != "Error":
        return None, None
    return _text(root, "Code"), _text(root, "Message")


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Storage:
    """The bucket as the signer sees it. Thread-safe: handlers call it from a thread pool."""

    def __init__(self, access: Access, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self.access = access
        self._clock = clock
        endpoint, timeout = access.endpoint, access.timeout
        parts = urlsplit(endpoint)
        self._minio = Minio(
            parts.netloc,
            access_key=access.access_key,
            secret_key=access.secret_key,
            secure=parts.scheme == "https",
            region=access.region,
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                maxsize=16,
                retries=False,
            ),
        )
        self._http = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_maxsize=16, max_retries=0)
        self._http.mount("http://", adapter)
        self._http.mount("https://", adapter)

    @classmethod
    def from_settings(cls, settings: Settings) -> Storage:
        return cls(Access.from_settings(settings))

    @property
    def endpoint(self) -> str:
        return self.access.endpoint

    @property
    def bucket(self) -> str:
        return self.access.bucket

    def close(self) -> None:
        self._http.close()

    # --- minio-py public API ----------------------------------------------------------------

    def check_ready(self) -> None:
        """Storage accepts the signer's keys and the bucket exists; else SignerError.

        A one-key ListObjectsV2 (the signer may list its bucket) rather than HeadBucket: a
        HEAD answer has no body, so a wrong secret and a missing permission look the same.
        """
        query = {"list-type": "2", "max-keys": "1", "prefix": INTENTS_PREFIX}
        url = self.access.url("GET", self.bucket, bucket=None, now=self._clock(), query=query)
        try:
            answer = self._http.get(url, timeout=self.access.timeout)
        except requests.RequestException as exc:
            raise _unreachable(self.endpoint, exc) from None
        if answer.status_code != 200:
            code, message = _error_of(answer.content)
            raise refusal(answer.status_code, code, message, "list the bucket")

    def stat(self, key: str) -> StoredObject | None:
        """The object's size, ETag, type and metadata, or None when there is none."""
        try:
            info = self._minio.stat_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in NOT_FOUND_CODES:
                return None
            raise refusal(exc.response.status, exc.code, exc.message, "read an object") from None
        except ServerError as exc:
            raise refusal(exc.status_code, None, None, "read an object") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _unreachable(self.endpoint, exc) from None
        headers = {name.lower(): value for name, value in (info.metadata or {}).items()}
        metadata = {
            name.removeprefix("x-amz-meta-"): value
            for name, value in headers.items()
            if name.startswith("x-amz-meta-")
        }
        return StoredObject(
            key=key,
            size=int(info.size or 0),
            etag=(info.etag or "").strip('"'),
            content_type=info.content_type or "",
            metadata=metadata,
            served={name: headers[name] for name in SERVED_HEADERS if name in headers},
        )

    def remove(self, key: str) -> None:
        try:
            self._minio.remove_object(self.bucket, key)
        except S3Error as exc:
            raise refusal(exc.response.status, exc.code, exc.message, "delete an object") from None
        except ServerError as exc:
            raise refusal(exc.status_code, None, None, "delete an object") from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _unreachable(self.endpoint, exc) from None

    # --- presigned raw calls ------------------------------------------------------------------

    def _request(
        self,
        method: str,
        key: str,
        *,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        body: bytes | None = None,
        timeout: float | None = None,
    ) -> requests.Response:
        url = self.access.url(method, key, now=self._clock(), headers=headers, query=query)
        try:
            return self._http.request(
                method,
                url,
                headers=dict(headers or {}),
                data=body,
                timeout=(self.access.timeout, timeout or self.access.timeout),
            )
        except requests.RequestException as exc:
            raise _unreachable(self.endpoint, exc) from None

    def create_multipart(self, key: str, headers: Mapping[str, str]) -> str:
        """CreateMultipartUpload with ``headers`` (Content-Type, SSE, ...); the upload id."""
        answer = self._request("POST", key, headers=headers, query={"uploads": ""})
        return self._upload_id(answer)

    def _upload_id(self, answer: requests.Response) -> str:
        if answer.status_code != 200:
            code, message = _error_of(answer.content)
            raise refusal(answer.status_code, code, message, "start the multipart upload")
        upload_id = _text(_parse_xml(answer.content), "UploadId")
        if not upload_id:
            raise refusal(502, "MalformedResponse", "no UploadId", "start the multipart upload")
        return upload_id

    def promote(
        self,
        source: StoredObject,
        key: str,
        headers: Mapping[str, str],
        part_headers: Mapping[str, str] | None = None,
    ) -> str | None:
        """Copy ``source`` (a staged upload, as stat saw it) to ``key``, the new object getting
        exactly ``headers`` (Content-Type, metadata, SSE) and nothing the uploader sent; its
        ETag, or None when an object already is at ``key``. ``part_headers`` go with the copy
        (SSE-C keys). SourceChanged when ``source`` is gone or is no longer what stat saw.

        The copy is conditional on the source's ETag because a form can be posted again to
        the same staging key while complete runs: only the object complete checked moves.
        CreateMultipartUpload's ``If-None-Match`` fails fast where storage honours it (MinIO;
        SeaweedFS ignores it); CompleteMultipartUpload's is the guarantee (both honour it),
        so an object that appears at ``key`` during the copy is not overwritten either.
        """
        answer = self._request(
            "POST", key, headers={**headers, "If-None-Match": "*"}, query={"uploads": ""}
        )
        if answer.status_code == 412:
            return None
        upload_id = self._upload_id(answer)
        try:
            part_etag = self._copy_part(source, key, upload_id, part_headers or {})
            etag = self.complete_multipart(key, upload_id, [(1, part_etag)])
        except BaseException:
            self._abort_quietly(key, upload_id)
            raise
        if etag is None:
            self._abort_quietly(key, upload_id)
        return etag

    def _copy_part(
        self, source: StoredObject, key: str, upload_id: str, part_headers: Mapping[str, str]
    ) -> str:
        """UploadPartCopy of all of ``source`` as part 1; the part's ETag."""
        answer = self._request(
            "PUT",
            key,
            headers={
                "x-amz-copy-source": f"/{self.bucket}/{quote(source.key, safe='/')}",
                "x-amz-copy-source-if-match": f'"{source.etag}"',
                **part_headers,
            },
            query={"partNumber": "1", "uploadId": upload_id},
            timeout=max(self.access.timeout, source.size / COPY_FLOOR_BYTES_PER_SECOND),
        )
        # Like CompleteMultipartUpload, a copy may answer 200 with an error in the body.
        code, message = _error_of(answer.content)
        if answer.status_code == 200 and code is None:
            etag = _text(_parse_xml(answer.content), "ETag")
            if etag:
                return etag.strip('"')
            raise refusal(502, "MalformedResponse", "no ETag", "copy the upload")
        if (
            answer.status_code in (404, 412)
            or code == "PreconditionFailed"
            or (code in NOT_FOUND_CODES)
        ):
            raise SourceChanged(source.key)
        raise refusal(answer.status_code, code, message, "copy the upload to its key")

    def _abort_quietly(self, key: str, upload_id: str) -> None:
        """Abort a promotion that will not complete. Best effort: the error that stopped it
        is the one to report, and storage's stale-upload expiry removes what remains."""
        with contextlib.suppress(SignerError, UploadGone):
            self.abort_multipart(key, upload_id)

    def list_parts(self, key: str, upload_id: str) -> list[StoredPart]:
        """Every uploaded part of ``upload_id``, in order (ListParts, paged)."""
        parts: list[StoredPart] = []
        marker = "0"
        for _ in range(MAX_LIST_PAGES):
            answer = self._request(
                "GET",
                key,
                query={"uploadId": upload_id, "part-number-marker": marker, "max-parts": "1000"},
            )
            if answer.status_code != 200:
                code, message = _error_of(answer.content)
                if code == "NoSuchUpload":
                    raise UploadGone(upload_id)
                raise refusal(answer.status_code, code, message, "list the uploaded parts")
            root = _parse_xml(answer.content)
            if root is None:
                raise refusal(502, "MalformedResponse", None, "list the uploaded parts")
            for part in root.iter(f"{_S3_NS}Part"):
                parts.append(
                    StoredPart(
                        part_number=int(_text(part, "PartNumber") or 0),
                        etag=(_text(part, "ETag") or "").strip('"'),
                        size=int(_text(part, "Size") or 0),
                    )
                )
            if (_text(root, "IsTruncated") or "false").lower() != "true":
                return parts
            marker = _text(root, "NextPartNumberMarker") or str(parts[-1].part_number)
        raise refusal(502, "TooManyPages", "ListParts did not end", "list the uploaded parts")

    def complete_multipart(
        self, key: str, upload_id: str, parts: Iterable[tuple[int, str]]
    ) -> str | None:
        """CompleteMultipartUpload with ``If-None-Match: *`` (never overwrite); the ETag, or
        None when an object already exists at ``key`` (412)."""
        items = "".join(
            f"<Part><PartNumber>{number}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for number, etag in parts
        )
        body = f"<CompleteMultipartUpload>{items}</CompleteMultipartUpload>".encode()
        answer = self._request(
            "POST",
            key,
            headers={"If-None-Match": "*"},
            query={"uploadId": upload_id},
            body=body,
        )
        # S3 may answer 200 and still report an error in the body (it streams while working).
        code, message = _error_of(answer.content)
        if answer.status_code == 200 and code is None:
            etag = _text(_parse_xml(answer.content), "ETag")
            return (etag or "").strip('"')
        if code == "NoSuchUpload":
            raise UploadGone(upload_id)
        if answer.status_code == 412 or code == "PreconditionFailed":
            return None
        if code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "MalformedXML"):
            raise SignerError(
                ErrorCode.BAD_REQUEST,
                f"storage refused the part list: {code}" + (f" ({message})" if message else ""),
                hint="send every part's number and the ETag storage returned for it, in order, "
                "or omit parts to let the signer list them",
            )
        raise refusal(answer.status_code, code, message, "complete the multipart upload")

    def abort_multipart(self, key: str, upload_id: str) -> None:
        answer = self._request("DELETE", key, query={"uploadId": upload_id})
        if answer.status_code in (200, 204):
            return
        code, message = _error_of(answer.content)
        if code == "NoSuchUpload" or answer.status_code == 404:
            raise UploadGone(upload_id)
        raise refusal(answer.status_code, code, message, "abort the multipart upload")

    # --- the signer's records -----------------------------------------------------------------

    def record_intent(self, jti: str, state: str, record: Mapping[str, object]) -> bool:
        """Write ``.minio-stack/intents/<jti>`` only if absent (If-None-Match: *); False when
        it already exists. This is how a stateless signer remembers a used intent."""
        body = json.dumps(dict(record), sort_keys=True).encode()
        answer = self._request(
            "PUT",
            INTENTS_PREFIX + jti,
            headers={
                "If-None-Match": "*",
                "Content-Type": "application/json",
                "x-amz-meta-state": state,
            },
            body=body,
        )
        if answer.status_code == 200:
            return True
        if answer.status_code == 412:
            return False
        code, message = _error_of(answer.content)
        raise refusal(answer.status_code, code, message, "record the upload intent")

    def intent_state(self, jti: str) -> str | None:
        """``completed``/``aborted`` when the intent was used, else None."""
        found = self.stat(INTENTS_PREFIX + jti)
        if found is None:
            return None
        return found.metadata.get("state", "completed")
