"""SigV4 presigning: shared vectors, AWS's documented example, and botocore as a reference."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4PostAuth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from signer.core import sigv4
from tests.conftest import SHARED, shared_path

VECTORS = "vectors/sigv4-presign.json"
_vector_file = SHARED / VECTORS
VECTOR_NAMES = (
    [v["name"] for v in json.loads(_vector_file.read_text())["vectors"]]
    if _vector_file.exists()
    else ["(shared vectors absent)"]
)

ACCESS = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


def _vector(name: str) -> dict:
    vectors = json.loads(shared_path(VECTORS).read_text())["vectors"]
    return next(v for v in vectors if v["name"] == name)


def _parse_amz_date(text: str) -> datetime:
    return datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_shared_vector_gives_the_exact_url(name: str) -> None:
    vector = _vector(name)
    url = sigv4.presign_url(
        method=vector["method"],
        endpoint=vector["endpoint"],
        bucket=vector["bucket"],
        key=vector["key"],
        access_key=vector["access_key"],
        secret_key=vector["secret_key"],
        region=vector["region"],
        expires=vector["expires"],
        now=_parse_amz_date(vector["amz_date"]),
        headers=vector["headers"],
        query=vector.get("query"),
        service=vector["service"],
        virtual_host=vector.get("virtual_host", False),
    )
    assert url == vector["url"]


# From AWS's S3 docs, "Authenticating Requests: Using Query Parameters" (GET test.txt).
AWS_DOC_CANONICAL_REQUEST = (
    "GET\n"
    "/test.txt\n"
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2F"
    "us-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
    "&X-Amz-SignedHeaders=host\n"
    "host:examplebucket.s3.amazonaws.com\n"
    "\n"
    "host\n"
    "UNSIGNED-PAYLOAD"
)
AWS_DOC_STRING_TO_SIGN = (
    "AWS4-HMAC-SHA256\n"
    "20130524T000000Z\n"
    "20130524/us-east-1/s3/aws4_request\n"
    "3bfa292879f6447bbcda7001decf97f4a54dc650c8942174ae0a9121cf58ad04"
)


def test_canonical_request_matches_aws_documented_example() -> None:
    query = {
        "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
        "X-Amz-Credential": "AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request",
        "X-Amz-Date": "20130524T000000Z",
        "X-Amz-Expires": "86400",
        "X-Amz-SignedHeaders": "host",
    }
    request = sigv4.canonical_request(
        "GET", "/test.txt", query, {"Host": "examplebucket.s3.amazonaws.com"}
    )
    assert request == AWS_DOC_CANONICAL_REQUEST
    to_sign = sigv4.string_to_sign(
        "20130524T000000Z", "20130524/us-east-1/s3/aws4_request", request
    )
    assert to_sign == AWS_DOC_STRING_TO_SIGN
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    assert sigv4.signature(key, to_sign) == (
        "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
    )


def test_signing_key_matches_aws_documented_derivation() -> None:
    # AWS General Reference, "Examples of how to derive a signing key for Signature Version 4".
    key = sigv4.signing_key(
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1", "iam"
    )
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"


def test_signing_key_is_cached_per_day_region_service() -> None:
    sigv4.signing_key.cache_clear()
    first = sigv4.signing_key(SECRET, "20261123", "us-east-1", "s3")
    again = sigv4.signing_key(SECRET, "20261123", "us-east-1", "s3")
    assert again is first
    assert sigv4.signing_key.cache_info().hits == 1
    assert sigv4.signing_key(SECRET, "20261124", "us-east-1", "s3") != first
    assert sigv4.signing_key(SECRET, "20261123", "eu-west-1", "s3") != first


def test_canonical_query_encodes_sorts_and_always_writes_equals() -> None:
    query = sigv4.canonical_query(
        {"uploads": "", "b": "x y/z~", "a": "é", "A": "1", "k+ey": "a=b&c"}
    )
    assert query == "A=1&a=%C3%A9&b=x%20y%2Fz~&k%2Bey=a%3Db%26c&uploads="


def test_canonical_headers_lowercase_trim_collapse_sort() -> None:
    block, signed = sigv4.canonical_headers(
        {"X-Amz-Meta-Note": "  a   b\tc  ", "Host": "h:9000", "content-type": "image/png"}
    )
    assert block == "content-type:image/png\nhost:h:9000\nx-amz-meta-note:a b c\n"
    assert signed == "content-type;host;x-amz-meta-note"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "a", "content-type": "b"},
        {"bad name": "x"},
        {"x-amz-meta-a": "line\r\nInjected: yes"},
    ],
    ids=["duplicate", "not-a-token", "crlf"],
)
def test_canonical_headers_refuses_ambiguous_headers(headers: dict) -> None:
    with pytest.raises(ValueError):
        sigv4.canonical_headers(headers)


def _botocore_presign(
    *,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    expires: int,
    now: datetime,
    region: str = "us-east-1",
    params: dict[str, str] | None = None,
) -> str:
    request = AWSRequest(method=method, url=url, headers=headers, params=dict(params or {}))
    auth = S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", region, expires=expires)
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        auth.add_auth(request)
    return request.url


def _put_pair(
    key: str, headers: dict[str, str], query: dict[str, str] | None = None
) -> tuple[str, str]:
    """Ours and botocore's presigned PUT of ``key`` to the uploads bucket, 900 s, at NOW."""
    ours = sigv4.presign_url(
        method="PUT",
        endpoint="http://127.0.0.1:9000",
        bucket="uploads",
        key=key,
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires=900,
        now=NOW,
        headers=headers,
        query=query,
    )
    reference = _botocore_presign(
        method="PUT",
        url=f"http://127.0.0.1:9000/uploads/{percent_encode(key, safe='/~')}",
        headers=headers,
        expires=900,
        now=NOW,
        params=query,
    )
    return ours, reference


SHA = base64.b64encode(b"\x01" * 32).decode()
HEADER_SETS = {
    "checksum": {"Content-Type": "image/png", "Content-Length": "5", "x-amz-checksum-sha256": SHA},
    "sse": {
        "Content-Type": "application/pdf",
        "Content-Length": "1048576",
        "If-None-Match": "*",
        "x-amz-server-side-encryption": "AES256",
    },
    "meta-and-cache": {
        "Cache-Control": "private,  max-age=60",
        "x-amz-meta-owner": "team  one",
        "x-amz-storage-class": "STANDARD",
    },
}


@pytest.mark.parametrize("name", sorted(HEADER_SETS))
def test_put_matches_botocore_for_extra_signed_headers(name: str) -> None:
    headers = HEADER_SETS[name]
    ours, reference = _put_pair("orgs/7/2026/11/ünï code+sp ace&(1).png", headers)
    assert ours == reference
    signed = sorted([*(h.lower() for h in headers), "host"])
    assert f"X-Amz-SignedHeaders={'%3B'.join(signed)}&" in ours


def test_get_with_response_overrides_matches_botocore() -> None:
    disposition = "attachment; filename=\"r_sum_.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9.pdf"
    query = {"response-content-disposition": disposition, "response-content-type": "text/plain"}
    ours = sigv4.presign_url(
        method="GET",
        endpoint="https://files.example.com",
        bucket="uploads",
        key="a/b.pdf",
        access_key=ACCESS,
        secret_key=SECRET,
        region="eu-central-1",
        expires=3600,
        now=NOW,
        query=query,
    )
    reference = _botocore_presign(
        method="GET",
        url="https://files.example.com/uploads/a/b.pdf",
        expires=3600,
        now=NOW,
        region="eu-central-1",
        params=query,
    )
    assert ours == reference


def test_canonical_request_matches_botocore_for_the_same_request() -> None:
    headers = {**HEADER_SETS["sse"], "Host": "127.0.0.1:9000"}
    query = {"partNumber": "2", "uploadId": "abc def", "X-Amz-Date": "20261123T083000Z"}
    request = AWSRequest(
        method="PUT", url="http://127.0.0.1:9000/uploads/a%20b.png", headers=headers, params=query
    )
    request.context["timestamp"] = "20261123T083000Z"
    request.headers["X-Amz-Content-SHA256"] = "UNSIGNED-PAYLOAD"
    reference = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", "us-east-1").canonical_request(
        request
    )
    ours = sigv4.canonical_request(
        "PUT",
        "/uploads/a%20b.png",
        query,
        {**headers, "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
    )
    assert ours == reference


@pytest.mark.parametrize(
    ("endpoint", "host"),
    [
        ("http://127.0.0.1:80", "127.0.0.1"),
        ("https://S3.Example.com:443/", "s3.example.com"),
        ("https://s3.example.com:8443", "s3.example.com:8443"),
        ("http://[::1]:9000", "[::1]:9000"),
    ],
)
def test_host_keeps_only_a_non_default_port(endpoint: str, host: str) -> None:
    url = sigv4.presign_url(
        method="GET",
        endpoint=endpoint,
        bucket="b",
        key="k",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires=60,
        now=NOW,
    )
    assert url.split("/")[2] == host
    reference = _botocore_presign(
        method="GET", url=f"{endpoint.rstrip('/')}/b/k", headers={}, expires=60, now=NOW
    )
    assert url.split("X-Amz-Signature=")[1] == reference.split("X-Amz-Signature=")[1]


def test_virtual_host_puts_the_bucket_in_the_host() -> None:
    url = sigv4.presign_url(
        method="GET",
        endpoint="https://s3.example.com",
        bucket="photos",
        key="a b.png",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires=60,
        now=NOW,
        virtual_host=True,
    )
    reference = _botocore_presign(
        method="GET", url="https://photos.s3.example.com/a%20b.png", headers={}, expires=60, now=NOW
    )
    assert url == reference
    assert url.startswith("https://photos.s3.example.com/a%20b.png?")


def test_every_signed_header_changes_the_signature() -> None:
    base = dict(HEADER_SETS["sse"])
    args = {
        "method": "PUT",
        "endpoint": "http://127.0.0.1:9000",
        "bucket": "uploads",
        "key": "k.pdf",
        "access_key": ACCESS,
        "secret_key": SECRET,
        "region": "us-east-1",
        "expires": 60,
        "now": NOW,
    }
    original = sigv4.presign_url(**args, headers=base)
    for name in base:
        changed = sigv4.presign_url(**args, headers={**base, name: base[name] + "0"})
        assert changed.split("X-Amz-Signature=")[1] != original.split("X-Amz-Signature=")[1], name


def test_a_non_utc_aware_clock_is_converted_to_utc() -> None:
    args = {
        "method": "GET",
        "endpoint": "http://127.0.0.1:9000",
        "bucket": "b",
        "key": "k",
        "access_key": ACCESS,
        "secret_key": SECRET,
        "region": "us-east-1",
        "expires": 60,
    }
    local = NOW.astimezone(timezone(timedelta(hours=5)))
    assert sigv4.presign_url(**args, now=local) == sigv4.presign_url(**args, now=NOW)


@pytest.mark.parametrize("expires", [1, 604800])
def test_expires_bounds_are_accepted(expires: int) -> None:
    url = sigv4.presign_url(
        method="GET",
        endpoint="http://127.0.0.1:9000",
        bucket="b",
        key="k",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        expires=expires,
        now=NOW,
    )
    assert f"X-Amz-Expires={expires}&" in url


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires": 0}, "1..604800"),
        ({"expires": -5}, "1..604800"),
        ({"expires": 604801}, "1..604800"),
        ({"expires": True}, "int"),
        ({"expires": "60"}, "int"),
        ({"now": datetime(2026, 11, 23)}, "timezone-aware"),
        ({"endpoint": "127.0.0.1:9000"}, "http(s)://"),
        ({"endpoint": "ftp://h"}, "http(s)://"),
        ({"endpoint": "http://h:9000/base"}, "no path"),
        ({"key": ""}, "key"),
        ({"headers": {"Host": "evil.example.com"}}, "set by the signer"),
        ({"query": {"X-Amz-Expires": "9"}}, "reserved"),
    ],
)
def test_bad_arguments_raise_value_error(changes: dict, message: str) -> None:
    args = {
        "method": "GET",
        "endpoint": "http://127.0.0.1:9000",
        "bucket": "b",
        "key": "k",
        "access_key": ACCESS,
        "secret_key": SECRET,
        "region": "us-east-1",
        "expires": 60,
        "now": NOW,
        **changes,
    }
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sigv4.presign_url(**args)


def _botocore_post(policy: dict, fields: dict, now: datetime) -> dict:
    request = AWSRequest(method="POST", url="http://127.0.0.1:9000/uploads")
    request.context["s3-presign-post-fields"] = dict(fields)
    request.context["s3-presign-post-policy"] = policy
    auth = S3SigV4PostAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1")
    with mock.patch("botocore.auth.get_current_datetime", return_value=now.replace(tzinfo=None)):
        auth.add_auth(request)
    return request.context["s3-presign-post-fields"]


def test_presign_post_matches_botocore() -> None:
    conditions = [["content-length-range", 0, 1000], {"Content-Type": "image/png"}]
    url, form = sigv4.presign_post(
        endpoint="http://127.0.0.1:9000",
        bucket="uploads",
        key="uploads/2026/11/x.png",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        now=NOW,
        expires=600,
        conditions=conditions,
        fields={"Content-Type": "image/png"},
    )
    assert url == "http://127.0.0.1:9000/uploads"
    # botocore's generate_presigned_post builds the same policy: caller's conditions, bucket,
    # key; S3SigV4PostAuth appends algorithm, credential and date and signs.
    reference = _botocore_post(
        {
            "expiration": "2026-11-23T08:40:00Z",
            "conditions": [*conditions, {"bucket": "uploads"}, {"key": "uploads/2026/11/x.png"}],
        },
        {"key": "uploads/2026/11/x.png", "Content-Type": "image/png"},
        NOW,
    )
    assert form == reference
    assert set(form) == {
        "key",
        "Content-Type",
        "policy",
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-signature",
    }
    policy = json.loads(base64.b64decode(form["policy"]))
    assert policy["expiration"] == "2026-11-23T08:40:00Z"
    assert {"x-amz-credential": f"{ACCESS}/20261123/us-east-1/s3/aws4_request"} in policy[
        "conditions"
    ]


def test_presign_post_signature_is_hmac_of_the_base64_policy() -> None:
    _, form = sigv4.presign_post(
        endpoint="https://s3.example.com",
        bucket="b",
        key="k",
        access_key=ACCESS,
        secret_key=SECRET,
        region="eu-west-1",
        now=NOW,
        expires=60,
        conditions=[],
    )
    import hashlib
    import hmac

    key = b"AWS4" + SECRET.encode()
    for part in ("20261123", "eu-west-1", "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, form["policy"].encode(), hashlib.sha256).hexdigest()
    assert form["x-amz-signature"] == expected


def test_presign_post_adds_a_condition_for_each_uncovered_field() -> None:
    _, form = sigv4.presign_post(
        endpoint="http://127.0.0.1:9000",
        bucket="uploads",
        key="k.png",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        now=NOW,
        expires=60,
        conditions=[["starts-with", "$Content-Type", "image/"]],
        fields={"Content-Type": "image/png", "x-amz-server-side-encryption": "AES256"},
    )
    conditions = json.loads(base64.b64decode(form["policy"]))["conditions"]
    assert conditions[0] == ["starts-with", "$Content-Type", "image/"]
    assert {"Content-Type": "image/png"} not in conditions
    assert {"x-amz-server-side-encryption": "AES256"} in conditions
    assert form["x-amz-server-side-encryption"] == "AES256"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"expires": 0}, "1..604800"),
        ({"expires": 604801}, "1..604800"),
        ({"fields": {"policy": "x"}}, "set by the signer"),
        ({"fields": {"X-Amz-Signature": "x"}}, "set by the signer"),
        ({"bucket": ""}, "bucket"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_presign_post_bad_arguments(changes: dict, message: str) -> None:
    args = {
        "endpoint": "http://127.0.0.1:9000",
        "bucket": "uploads",
        "key": "k",
        "access_key": ACCESS,
        "secret_key": SECRET,
        "region": "us-east-1",
        "now": NOW,
        "expires": 60,
        "conditions": [],
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        sigv4.presign_post(**args)


# --- Presigner: the per-identity object presign_url keeps ---------------------------------


def _presigner(endpoint: str = "http://127.0.0.1:9000") -> sigv4.Presigner:
    return sigv4.Presigner(
        endpoint=endpoint, access_key=ACCESS, secret_key=SECRET, region="us-east-1"
    )


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_presigner_gives_the_shared_vector_url(name: str) -> None:
    vector = _vector(name)
    signer = sigv4.Presigner(
        endpoint=vector["endpoint"],
        access_key=vector["access_key"],
        secret_key=vector["secret_key"],
        region=vector["region"],
        service=vector["service"],
    )
    for _ in range(2):  # the second URL comes from the caches the first one filled
        url = signer.presign(
            method=vector["method"],
            bucket=vector["bucket"],
            key=vector["key"],
            expires=vector["expires"],
            now=_parse_amz_date(vector["amz_date"]),
            headers=vector["headers"],
            query=vector.get("query"),
            virtual_host=vector.get("virtual_host", False),
        )
        assert url == vector["url"]


def test_presigner_follows_the_clock_across_seconds_and_days() -> None:
    signer = _presigner()
    headers = HEADER_SETS["sse"]
    for now in (NOW, NOW + timedelta(seconds=1), NOW + timedelta(days=1), NOW):
        url = signer.presign(
            method="PUT", bucket="uploads", key="a b.pdf", expires=900, now=now, headers=headers
        )
        reference = _botocore_presign(
            method="PUT",
            url="http://127.0.0.1:9000/uploads/a%20b.pdf",
            headers=headers,
            expires=900,
            now=now,
        )
        assert url == reference, now


def test_presigner_checks_its_endpoint_and_arguments() -> None:
    with pytest.raises(ValueError, match="no path"):
        _presigner("http://h:9000/base")
    signer = _presigner()
    args = {"method": "GET", "bucket": "b", "key": "k", "expires": 60, "now": NOW}
    for changes, message in [
        ({"expires": 0}, "1..604800"),
        ({"now": datetime(2026, 11, 23)}, "timezone-aware"),
        ({"key": ""}, "key"),
        ({"headers": {"Authorization": "x"}}, "set by the signer"),
        ({"headers": {"bad name": "x"}}, "not an HTTP token"),
        ({"headers": {"a": "1", "A": "2"}}, "given twice"),
        ({"headers": {"x-amz-meta-a": "a\nb"}}, "line break"),
        ({"query": {"x-amz-date": "1"}}, "reserved"),
    ]:
        with pytest.raises(ValueError, match=message):
            signer.presign(**{**args, **changes})
    assert SECRET not in repr(signer)


header_values = st.text(
    st.characters(codec="utf-8", exclude_characters="\r\n\x00"), max_size=30
).filter(lambda v: v.strip() == v and "  " not in v and "\t" not in v)
keys = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    key=keys,
    headers=st.dictionaries(
        st.sampled_from(["Content-Type", "Content-Length", "x-amz-meta-intent", "Cache-Control"]),
        header_values,
        max_size=4,
    ),
    query=st.dictionaries(
        st.sampled_from(["partNumber", "uploadId", "response-content-disposition", "a", "Z"]),
        st.text(max_size=20),
        max_size=3,
    ),
)
def test_presign_url_matches_botocore_for_any_key_headers_and_query(
    key: str, headers: dict[str, str], query: dict[str, str]
) -> None:
    ours, reference = _put_pair(key, headers, query)
    assert ours == reference


# --- header-signed requests (sign_request) -----------------------------------------------------


def _botocore_signed_headers(
    method: str, url: str, headers: dict[str, str], body: bytes, region: str
) -> dict[str, str]:
    """What botocore's S3 SigV4 header signer adds to the same request at NOW."""
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=body)
    auth = S3SigV4Auth(Credentials(ACCESS, SECRET), "s3", region)
    with mock.patch("botocore.auth.get_current_datetime", return_value=NOW.replace(tzinfo=None)):
        auth.add_auth(request)
    return dict(request.headers.items())


@pytest.mark.parametrize(
    ("method", "endpoint", "path", "query", "headers", "body", "region"),
    [
        ("GET", "http://127.0.0.1:9000", "/minio/admin/v3/accountinfo", {}, {}, b"", "us-east-1"),
        (
            "GET",
            "http://127.0.0.1:9000",
            "/minio/admin/v3/list-access-keys-bulk",
            {"users": "signer x+1", "listType": "all"},
            {},
            b"",
            "us-east-1",
        ),
        (
            "POST",
            "https://storage.example.com:443",
            "/minio/admin/v3/revoke-tokens/builtin",
            {"user": "ü/ser", "fullRevoke": "true"},
            {"Content-Type": "application/octet-stream"},
            b'{"a": 1}',
            "eu-central-1",
        ),
        (
            "PUT",
            "https://files.example.com:8443",
            "/uploads/a b/ünï~(1).txt",
            {"tagging": ""},
            {"Content-Type": "text/plain", "x-amz-meta-owner": "team  one"},
            b"body",
            "us-west-2",
        ),
    ],
    ids=["no-query", "query", "body-https", "encoded-path"],
)
def test_sign_request_matches_botocore(
    method: str,
    endpoint: str,
    path: str,
    query: dict[str, str],
    headers: dict[str, str],
    body: bytes,
    region: str,
) -> None:
    url, sent = sigv4.sign_request(
        method=method,
        endpoint=endpoint,
        path=path,
        access_key=ACCESS,
        secret_key=SECRET,
        region=region,
        now=NOW,
        query=query,
        headers=headers,
        body=body,
    )
    reference = _botocore_signed_headers(method, url, headers, body, region)
    assert {k.lower(): v for k, v in sent.items()} == {k.lower(): v for k, v in reference.items()}
    assert "Signature=" in sent["Authorization"] and "host;" in sent["Authorization"]
    assert url.startswith(endpoint.replace(":443", "")) and SECRET not in url


def test_sign_request_url_is_the_signed_one() -> None:
    url, sent = sigv4.sign_request(
        method="GET",
        endpoint="http://127.0.0.1:9000",
        path="/minio/admin/v3/list-access-keys-bulk",
        access_key=ACCESS,
        secret_key=SECRET,
        region="us-east-1",
        now=NOW,
        query={"users": "a b", "listType": "all"},
    )
    assert url == (
        "http://127.0.0.1:9000/minio/admin/v3/list-access-keys-bulk?listType=all&users=a%20b"
    )
    assert sent["x-amz-date"] == "20261123T083000Z"
    empty_sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert sent["x-amz-content-sha256"] == empty_sha256
    assert sent["Authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={ACCESS}/20261123/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "minio/admin"}, "must start with /"),
        ({"now": datetime(2026, 11, 23)}, "timezone-aware"),
        ({"endpoint": "http://h:9000/base"}, "no path"),
        ({"headers": {"Authorization": "x"}}, "set by the signer"),
        ({"headers": {"X-Amz-Date": "x"}}, "set by the signer"),
        ({"headers": {"a": "1", "A": "2"}}, "given twice"),
        ({"headers": {"x-amz-meta-a": "a\nb"}}, "line break"),
        ({"query": {"X-Amz-Signature": "1"}}, "reserved"),
    ],
)
def test_sign_request_bad_arguments(changes: dict, message: str) -> None:
    args = {
        "method": "GET",
        "endpoint": "http://127.0.0.1:9000",
        "path": "/minio/admin/v3/accountinfo",
        "access_key": ACCESS,
        "secret_key": SECRET,
        "region": "us-east-1",
        "now": NOW,
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        sigv4.sign_request(**args)
