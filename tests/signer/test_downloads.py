"""The download use-case over HTTP, against real storage: names, types, lifetimes, key checks."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.signer.conftest import Api, Identity, assert_error

DOWNLOAD = "/v1/downloads/presign"


@pytest.fixture(scope="module")
def stored(identity: Identity) -> str:
    key = "uploads/2026/01/stored-report.txt"
    identity.root.put_object(
        identity.bucket, key, io.BytesIO(b"report"), 6, content_type="text/plain"
    )
    return key


def test_download_with_a_unicode_filename(api: Api, stored: str) -> None:
    signed = api.ok(DOWNLOAD, {"object_key": stored, "filename": "Bericht für März.txt"})
    fetched = requests.get(signed["url"], timeout=10)
    assert fetched.status_code == 200 and fetched.content == b"report"
    disposition = fetched.headers["Content-Disposition"]
    assert disposition.startswith('attachment; filename="Bericht fur Marz.txt"')
    assert "filename*=UTF-8''Bericht%20f%C3%BCr%20M%C3%A4rz.txt" in disposition
    assert urlsplit(signed["url"]).netloc.startswith("localhost:")


def test_download_inline_with_an_allowed_type(api: Api, stored: str) -> None:
    signed = api.ok(
        DOWNLOAD,
        {
            "object_key": stored,
            "disposition": "inline",
            "response_content_type": "text/plain; charset=utf-8",
        },
    )
    fetched = requests.get(signed["url"], timeout=10)
    assert fetched.headers["Content-Disposition"] == "inline"
    assert fetched.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_download_refuses_a_type_the_profile_does_not_allow(api: Api, stored: str) -> None:
    """Serving an upload as text/html from storage's origin would be stored XSS."""
    answer = api.post(DOWNLOAD, {"object_key": stored, "response_content_type": "text/html"})
    assert_error(answer, 415, "mime_not_allowed")


def test_download_lifetime_is_clamped_to_the_profile(api: Api, stored: str) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    signed = api.ok(DOWNLOAD, {"object_key": stored, "ttl_seconds": 10**9})
    assert parse_qs(urlsplit(signed["url"]).query)["X-Amz-Expires"] == ["7200"]  # ttl_max 2h
    expires = datetime.strptime(signed["expires_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert before + timedelta(hours=2) <= expires <= before + timedelta(hours=2, seconds=5)
    short = api.ok(DOWNLOAD, {"object_key": stored, "ttl_seconds": 60})
    assert parse_qs(urlsplit(short["url"]).query)["X-Amz-Expires"] == ["60"]
    assert_error(api.post(DOWNLOAD, {"object_key": stored, "ttl_seconds": 0}), 400, "bad_request")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("../etc/passwd", "'..'"),
        ("uploads/../../x", "'..'"),
        ("/uploads/a.txt", "starts with '/'"),
        ("uploads/a\x00.txt", "control character"),
        ("uploads//a.txt", "empty path segment"),
        (".minio-stack/intents/abc", "signer's own records"),
        ("elsewhere/a.txt", "outside every upload profile"),
    ],
)
def test_download_keys_are_checked(api: Api, key: str, expected: str) -> None:
    error = assert_error(api.post(DOWNLOAD, {"object_key": key}), 400, "bad_request")
    assert expected in error["message"]


@pytest.fixture(scope="module")
def dressed(identity: Identity) -> str:
    """An object stored with headers the signer never sets (as a PUT with unsigned headers
    left one before uploads were staged), under a type the profile does not allow."""
    key = "uploads/2026/01/dressed-up.txt"
    url = identity.root.get_presigned_url("PUT", identity.bucket, key)
    # Unsigned headers on a presigned PUT: storage keeps and serves them.
    headers = {
        "Content-Type": "text/html",
        "Content-Disposition": 'attachment; filename="invoice.pdf.exe"',
        "Content-Encoding": "gzip",
        "Cache-Control": "public, max-age=31536000",
        "Expires": "Thu, 01 Dec 2094 16:00:00 GMT",
        "Content-Language": "de",
    }
    sent = requests.put(url, data=b"<script>alert(1)</script>", headers=headers, timeout=10)
    assert sent.status_code == 200, sent.text
    return key


def test_a_download_serves_what_the_signer_decides(api: Api, dressed: str) -> None:
    signed = api.ok(DOWNLOAD, {"object_key": dressed, "filename": "notes.txt"})
    fetched = requests.get(signed["url"], timeout=10, stream=True)
    assert fetched.status_code == 200
    assert fetched.raw.read(decode_content=False) == b"<script>alert(1)</script>"
    headers = fetched.headers
    # text/html is not in the profile: served as bytes to save, not as a page.
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Disposition"].startswith('attachment; filename="notes.txt"')
    assert headers["Cache-Control"] == "private"
    assert headers["Content-Encoding"] == "identity"
    assert headers["Expires"] == "0"
    assert headers["Content-Language"] == "und"


def test_a_clean_object_is_served_without_extra_headers(api: Api, stored: str) -> None:
    signed = api.ok(DOWNLOAD, {"object_key": stored})
    query = parse_qs(urlsplit(signed["url"]).query)
    assert query["response-content-type"] == ["text/plain"]
    assert query["response-content-disposition"] == ["attachment"]
    assert not {"response-cache-control", "response-content-encoding", "response-expires"} & set(
        query
    )
