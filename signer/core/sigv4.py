"""AWS Signature Version 4 for presigned URLs and POST policies, one function per spec step.

Modelled on minio-py's ``signer.py`` but signing more than ``host``: every header the client
must send (Content-Type, Content-Length, If-None-Match, x-amz-checksum-*, SSE, ...) becomes a
signed header, so storage refuses the upload if the client changes any of them. Query values
are always rendered ``k=v``, even when empty, as the spec requires.

``Presigner`` signs for one identity, region and endpoint and works out once what does not
change from URL to URL (the host, the day's scope and signing key, each header-name set's
SignedHeaders); ``presign_url`` is the same thing as one function call (it keeps a Presigner
per identity and endpoint).

Spec: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
POST: https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-HTTPPOSTConstructPolicy.html
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
MAX_EXPIRES = 604800  # 7 days: the longest a SigV4 presigned URL may live
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACES = re.compile(r"\s+")
_BAD_VALUE = re.compile(r"[\r\n\0]")
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
_UNRESERVED_OR_SLASH = re.compile(r"[A-Za-z0-9_.~/-]*")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
# Set from the endpoint or by the signer itself; a caller-supplied copy would conflict.
_RESERVED_HEADERS = frozenset({"host", "authorization", "x-amz-date", "x-amz-content-sha256"})
_RESERVED_FORM_FIELDS = frozenset(
    {
        "key",
        "bucket",
        "policy",
        "file",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
    }
)


def uri_encode(text: str, *, keep_slash: bool = False) -> str:
    """RFC 3986: everything but ``A-Z a-z 0-9 - _ . ~`` is %XX (UTF-8), upper-case hex."""
    # Most keys and parameter names need no escaping; quote() walks every character anyway.
    if (_UNRESERVED_OR_SLASH if keep_slash else _UNRESERVED).fullmatch(text):
        return text
    return _quote(text, "/" if keep_slash else "")


@functools.lru_cache(maxsize=1024)
def _quote(text: str, safe: str) -> str:
    # Credentials, signed-header lists and dispositions repeat from URL to URL.
    return quote(text, safe=safe)


def canonical_query(params: Mapping[str, str]) -> str:
    """Encoded ``k=v`` pairs sorted by encoded key (then value), joined by ``&``."""
    pairs = sorted((uri_encode(str(k)), uri_encode(str(v))) for k, v in params.items())
    # CanonicalQueryString = URI-encode(key) "=" URI-encode(value) *( "&" ... ), sorted
    return "&".join(f"{k}={v}" for k, v in pairs)


def _trimall(name: str, value: object) -> str:
    """A header value as SigV4 signs it: trimmed, inner whitespace runs folded to one space."""
    text = str(value)
    # Printable ASCII holds no line break, NUL or tab: only a double space needs folding.
    if text.isascii() and text.isprintable() and "  " not in text:
        return text.strip()
    if _BAD_VALUE.search(text):
        raise ValueError(f"header {name!r} has a line break or NUL in its value")
    return _SPACES.sub(" ", text.strip())


def canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    """(canonical header block, signed-headers list): lower-case names, trimmed values, sorted."""
    folded: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.strip().lower()
        if not _HEADER_NAME.fullmatch(lower):
            raise ValueError(f"header name {name!r} is not an HTTP token")
        if lower in folded:
            raise ValueError(f"header {name!r} is given twice (names are case-insensitive)")
        folded[lower] = _trimall(name, value)
    names = sorted(folded)
    # CanonicalHeaders = *( Lowercase(HeaderName) ":" Trimall(HeaderValue) "\n" )
    block = "".join(f"{name}:{folded[name]}\n" for name in names)
    # SignedHeaders = Lowercase(HeaderName) *( ";" Lowercase(HeaderName) )
    return block, ";".join(names)


def canonical_request(
    method: str,
    path: str,
    query: Mapping[str, str] | str,
    headers: Mapping[str, str],
    payload_hash: str = UNSIGNED_PAYLOAD,
) -> str:
    """The canonical request string; ``path`` is already URI-encoded, ``query`` a mapping or
    an already-canonical string."""
    query_string = query if isinstance(query, str) else canonical_query(query)
    header_block, signed = canonical_headers(headers)
    return _join_request(method, path, query_string, header_block, signed, payload_hash)


def _join_request(
    method: str, path: str, query: str, header_block: str, signed: str, payload_hash: str
) -> str:
    # CanonicalRequest = HTTPMethod "\n" CanonicalURI "\n" CanonicalQueryString "\n"
    #                    CanonicalHeaders "\n" SignedHeaders "\n" HashedPayload
    return f"{method.upper()}\n{path}\n{query}\n{header_block}\n{signed}\n{payload_hash}"


def scope(datestamp: str, region: str, service: str) -> str:
    # CredentialScope = YYYYMMDD "/" region "/" service "/aws4_request"
    return f"{datestamp}/{region}/{service}/aws4_request"


def string_to_sign(amz_date: str, scope: str, canonical_request: str) -> str:
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    # StringToSign = Algorithm "\n" RequestDateTime "\n" CredentialScope "\n"
    #                HexEncode(SHA256(CanonicalRequest))
    return f"{ALGORITHM}\n{amz_date}\n{scope}\n{digest}"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


@functools.lru_cache(maxsize=64)
def signing_key(secret_key: str, datestamp: str, region: str, service: str) -> bytes:
    """HMAC chain secret → date → region → service → "aws4_request"; valid for one UTC day."""
    # SigningKey = HMAC(HMAC(HMAC(HMAC("AWS4" + Secret, Date), Region), Service), "aws4_request")
    key = _hmac(f"AWS4{secret_key}".encode(), datestamp)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def signature(key: bytes, string_to_sign: str) -> str:
    # hmac.digest with a digest name is OpenSSL's one-shot HMAC: no Python HMAC object.
    return hmac.digest(key, string_to_sign.encode("utf-8"), "sha256").hex()


def amz_date(now: datetime) -> str:
    """``YYYYMMDDTHHMMSSZ`` of an aware datetime, in UTC."""
    return _utc(now).strftime("%Y%m%dT%H%M%SZ")


def _utc(now: datetime) -> datetime:
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    return now.astimezone(UTC)


def _check_expires(expires: int) -> int:
    if isinstance(expires, bool) or not isinstance(expires, int):
        raise ValueError(f"expires must be an int number of seconds, not {expires!r}")
    if not 1 <= expires <= MAX_EXPIRES:
        raise ValueError(f"expires must be 1..{MAX_EXPIRES} seconds (7 days), got {expires}")
    return expires


@functools.lru_cache(maxsize=64)
def _split_endpoint(endpoint: str) -> tuple[str, str]:
    """(scheme, host header value) of ``scheme://host[:port]``; a default port is dropped."""
    parts = urlsplit(endpoint)
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"endpoint {endpoint!r} must look like http(s)://host[:port]")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(
            f"endpoint {endpoint!r} must be scheme://host[:port] only (no path, query or user)"
        )
    host = parts.hostname.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    port = parts.port
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return parts.scheme, host


def _object_path(bucket: str | None, key: str, virtual_host: bool) -> str:
    if not key:
        raise ValueError("key must not be empty")
    encoded = uri_encode(key, keep_slash=True)
    if bucket is None or virtual_host:
        return f"/{encoded}"
    return f"/{uri_encode(bucket)}/{encoded}"


def _host_for(host: str, bucket: str | None, virtual_host: bool) -> str:
    return f"{bucket}.{host}" if virtual_host and bucket else host


@dataclass(frozen=True)
class _HeaderNames:
    """One set of caller header names, checked and sorted once (most requests repeat a set)."""

    reserved: str | None  # the first name the signer sets itself, refused
    valid: bool  # every name an HTTP token, none given twice
    order: tuple[int, ...]  # caller positions in canonical (sorted) order; -1 is ``host``
    lower: tuple[str, ...]  # the lower-case names in that order
    signed: str  # SignedHeaders
    signed_encoded: str  # SignedHeaders as the X-Amz-SignedHeaders query value


@functools.lru_cache(maxsize=256)
def _header_names(names: tuple[str, ...]) -> _HeaderNames:
    lowered = [name.strip().lower() for name in names]
    reserved = next(
        (name for name, low in zip(names, lowered, strict=True) if low in _RESERVED_HEADERS), None
    )
    valid = len(set(lowered)) == len(lowered) and all(map(_HEADER_NAME.fullmatch, lowered))
    ranked = sorted([*((low, i) for i, low in enumerate(lowered)), ("host", -1)])
    signed = ";".join(low for low, _ in ranked)
    return _HeaderNames(
        reserved,
        valid,
        tuple(i for _, i in ranked),
        tuple(low for low, _ in ranked),
        signed,
        uri_encode(signed),
    )


def _query_key(pair: str) -> str:
    return pair.partition("=")[0]


def _check_operation(query: Mapping[str, str] | None) -> dict[str, str]:
    operation = {str(k): str(v) for k, v in query.items()} if query else {}
    for name in operation:
        if name.lower().startswith("x-amz-"):
            raise ValueError(f"query parameter {name!r} is reserved for the signature")
    return operation


class Presigner:
    """SigV4 query presigning for one identity, region and endpoint (``scheme://host[:port]``).

    Built once, it keeps what every URL shares: the host, the day's credential scope and
    signing key (renewed when the UTC day changes), the last second's X-Amz-Date, and for
    each header-name set its sorted SignedHeaders. Safe to share between threads: each cache
    is one immutable value, swapped whole.
    """

    def __init__(
        self, *, endpoint: str, access_key: str, secret_key: str, region: str, service: str = "s3"
    ) -> None:
        self.scheme, self.host = _split_endpoint(endpoint)
        self.access_key = access_key
        self.region = region
        self.service = service
        self._secret_key = secret_key
        self._host_value = _trimall("host", self.host)
        # (datestamp, credential scope, URI-encoded credential, signing key)
        self._day: tuple[str, str, str, bytes] = ("", "", "", b"")
        # ((y, m, d, H, M, S), X-Amz-Date): strftime costs more than all the string work
        self._second: tuple[tuple[int, ...], str] = ((), "")

    def __repr__(self) -> str:
        return f"Presigner({self.scheme}://{self.host}, {self.access_key}, {self.region})"

    def presign(
        self,
        *,
        method: str,
        bucket: str | None,
        key: str,
        expires: int,
        now: datetime,
        headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        virtual_host: bool = False,
    ) -> str:
        """A presigned URL, as ``presign_url`` describes it."""
        _check_expires(expires)
        return self._presign(method, bucket, key, expires, _utc(now), headers, query, virtual_host)

    def _amz_date(self, when: datetime) -> str:
        stamp = (when.year, when.month, when.day, when.hour, when.minute, when.second)
        last, text = self._second
        if stamp != last:
            text = when.strftime("%Y%m%dT%H%M%SZ")
            self._second = (stamp, text)
        return text

    def _credential(self, datestamp: str) -> tuple[str, str, str, bytes]:
        day = self._day
        if day[0] != datestamp:
            credential_scope = scope(datestamp, self.region, self.service)
            day = (
                datestamp,
                credential_scope,
                uri_encode(f"{self.access_key}/{credential_scope}"),
                signing_key(self._secret_key, datestamp, self.region, self.service),
            )
            self._day = day
        return day

    def _presign(
        self,
        method: str,
        bucket: str | None,
        key: str,
        expires: int,
        when: datetime,
        headers: Mapping[str, str] | None,
        query: Mapping[str, str] | None,
        virtual_host: bool,
    ) -> str:
        host = _host_for(self.host, bucket, virtual_host)
        path = _object_path(bucket, key, virtual_host)
        extra_headers = dict(headers) if headers else {}
        names = _header_names(tuple(extra_headers))
        if names.reserved is not None:
            raise ValueError(f"header {names.reserved!r} is set by the signer; do not pass it")
        operation = _check_operation(query)
        if not names.valid:
            canonical_headers(extra_headers)  # raises for the first bad name or value, as ever
            raise AssertionError("unreachable: canonical_headers refuses what _header_names did")
        values = [_trimall(name, value) for name, value in extra_headers.items()]
        host_value = self._host_value if host == self.host else _trimall("host", host)
        # CanonicalHeaders = *( Lowercase(HeaderName) ":" Trimall(HeaderValue) "\n" )
        header_block = "".join(
            [
                f"{low}:{values[i] if i >= 0 else host_value}\n"
                for low, i in zip(names.lower, names.order, strict=True)
            ]
        )

        date = self._amz_date(when)
        _, credential_scope, credential, key_for_day = self._credential(date[:8])
        # Only the credential and SignedHeaders need escaping, and they are encoded once;
        # in this order the X-Amz-* pairs are sorted, as the canonical query wants them.
        auth = [
            f"X-Amz-Algorithm={ALGORITHM}",
            f"X-Amz-Credential={credential}",
            f"X-Amz-Date={date}",
            f"X-Amz-Expires={expires}",
            f"X-Amz-SignedHeaders={names.signed_encoded}",
        ]
        if operation:
            # Encode each pair once: the URL keeps their order, the canonical query sorts them
            # by encoded key (no two are equal, and no key holds "=").
            pairs = [f"{uri_encode(k)}={uri_encode(v)}" for k, v in operation.items()]
            # CanonicalQueryString = URI-encode(key) "=" URI-encode(value) *( "&" ... ), sorted
            canonical_query_string = "&".join(sorted(pairs + auth, key=_query_key))
            query_string = "&".join(pairs + auth)
        else:
            canonical_query_string = query_string = "&".join(auth)
        request = _join_request(
            method, path, canonical_query_string, header_block, names.signed, UNSIGNED_PAYLOAD
        )
        sig = signature(key_for_day, string_to_sign(date, credential_scope, request))
        # URL = scheme "://" host CanonicalURI "?" operation-params "&" auth-params
        #       "&X-Amz-Signature=" signature
        return f"{self.scheme}://{host}{path}?{query_string}&X-Amz-Signature={sig}"


@functools.lru_cache(maxsize=64)
def _presigner(
    endpoint: str, access_key: str, secret_key: str, region: str, service: str
) -> Presigner:
    return Presigner(
        endpoint=endpoint,
        access_key=access_key,
        secret_key=secret_key,
        region=region,
        service=service,
    )


def presign_url(
    *,
    method: str,
    endpoint: str,
    bucket: str | None,
    key: str,
    access_key: str,
    secret_key: str,
    region: str,
    expires: int,
    now: datetime,
    headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    service: str = "s3",
    virtual_host: bool = False,
) -> str:
    """A SigV4 query-string presigned URL signing ``host`` plus every header in ``headers``.

    The client must send exactly those headers with exactly those values. ``query`` carries
    operation parameters (partNumber, uploadId, response-content-disposition, ...); they come
    first in the URL, then the X-Amz-* parameters, as botocore orders them.
    """
    _check_expires(expires)
    when = _utc(now)
    signer = _presigner(endpoint, access_key, secret_key, region, service)
    return signer._presign(method, bucket, key, expires, when, headers, query, virtual_host)


def sign_request(
    *,
    method: str,
    endpoint: str,
    path: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    query: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    service: str = "s3",
) -> tuple[str, dict[str, str]]:
    """(URL, headers) of a request signed in its ``Authorization`` header, not its URL: for
    routes that refuse presigned URLs (MinIO's admin API accepts header signatures only).

    ``path`` is the absolute path, not yet encoded. ``body`` is hashed into
    ``x-amz-content-sha256`` and so signed. The headers to send are the caller's ``headers``
    plus ``x-amz-date``, ``x-amz-content-sha256`` and ``Authorization``; all of them and
    ``host`` (which the HTTP client sets from the URL) are signed.
    """
    when = _utc(now)
    scheme, host = _split_endpoint(endpoint)
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} must start with /")
    extra = {str(k): str(v) for k, v in headers.items()} if headers else {}
    for name in extra:
        if name.strip().lower() in _RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is set by the signer; do not pass it")
    encoded_path = uri_encode(path, keep_slash=True)
    query_string = canonical_query(_check_operation(query))
    date = amz_date(when)
    payload_hash = hashlib.sha256(body).hexdigest()
    added = {"x-amz-date": date, "x-amz-content-sha256": payload_hash}
    header_block, signed = canonical_headers({**extra, "host": host, **added})
    request = _join_request(method, encoded_path, query_string, header_block, signed, payload_hash)
    credential_scope = scope(date[:8], region, service)
    key = signing_key(secret_key, date[:8], region, service)
    sig = signature(key, string_to_sign(date, credential_scope, request))
    # Authorization = Algorithm " Credential=" AccessKey "/" CredentialScope
    #                 ", SignedHeaders=" SignedHeaders ", Signature=" signature
    authorization = (
        f"{ALGORITHM} Credential={access_key}/{credential_scope}, "
        f"SignedHeaders={signed}, Signature={sig}"
    )
    url = f"{scheme}://{host}{encoded_path}" + (f"?{query_string}" if query_string else "")
    return url, {**extra, **added, "Authorization": authorization}


def _covers(condition: object, field: str) -> bool:
    """Whether a POST policy condition constrains form field ``field`` (case-insensitive)."""
    lower = field.lower()
    if isinstance(condition, Mapping):
        return any(str(name).lower() == lower for name in condition)
    if isinstance(condition, list | tuple) and len(condition) == 3:
        return str(condition[1]).lower() == f"${lower}"
    return False


# A POST policy condition: ``["eq", "$Content-Type", "image/png"]``, ``{"bucket": "uploads"}``.
PostCondition = list[str | int] | tuple[str | int, ...] | dict[str, str]


def _form_fields(fields: Mapping[str, str] | None) -> dict[str, str]:
    form = {str(k): str(v) for k, v in (fields or {}).items()}
    for name in form:
        if name.lower() in _RESERVED_FORM_FIELDS:
            raise ValueError(f"form field {name!r} is set by the signer; do not pass it")
    return form


def _policy_conditions(
    conditions: Sequence[PostCondition], form: Mapping[str, str], signed: Mapping[str, str]
) -> list[PostCondition]:
    """The caller's conditions, an exact match for each form field none of them covers, then
    the ``signed`` fields (bucket, key, algorithm, credential, date) — botocore's order."""
    out: list[PostCondition] = list(conditions)
    for name, value in form.items():
        if not any(_covers(condition, name) for condition in out):
            out.append({name: value})
    return out + [{name: value} for name, value in signed.items()]


def presign_post(
    *,
    endpoint: str,
    bucket: str,
    key: str,
    access_key: str,
    secret_key: str,
    region: str,
    now: datetime,
    expires: int,
    conditions: Sequence[PostCondition],
    fields: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, str]]:
    """(URL, form fields) for a browser form POST upload under a SigV4-signed policy.

    The policy is ``{"expiration", "conditions": [*conditions, {"bucket"}, {"key"},
    {"x-amz-algorithm"}, {"x-amz-credential"}, {"x-amz-date"}]}`` — botocore's order. Storage
    rejects any form field the policy does not mention, so each entry of ``fields`` that no
    condition covers gets an exact-match condition appended after the caller's conditions.
    The form's ``file`` field must come last; the caller adds it.
    """
    _check_expires(expires)
    when = _utc(now)
    scheme, host = _split_endpoint(endpoint)
    if not bucket:
        raise ValueError("bucket must not be empty")
    if not key:
        raise ValueError("key must not be empty")
    form = _form_fields(fields)
    date = amz_date(when)
    credential = f"{access_key}/{scope(date[:8], region, 's3')}"
    signed = {
        "bucket": bucket,
        "key": key,
        "x-amz-algorithm": ALGORITHM,
        "x-amz-credential": credential,
        "x-amz-date": date,
    }
    expiration = (when + timedelta(seconds=expires)).strftime("%Y-%m-%dT%H:%M:%SZ")
    policy = {"expiration": expiration, "conditions": _policy_conditions(conditions, form, signed)}
    encoded = base64.b64encode(json.dumps(policy).encode("utf-8")).decode("ascii")
    # For POST, StringToSign is the base64 policy itself.
    sig = signature(signing_key(secret_key, date[:8], region, "s3"), encoded)
    out = {
        "key": key,
        **form,
        "policy": encoded,
        "x-amz-algorithm": ALGORITHM,
        "x-amz-credential": credential,
        "x-amz-date": date,
        "x-amz-signature": sig,
    }
    return f"{scheme}://{host}/{uri_encode(bucket)}", out
