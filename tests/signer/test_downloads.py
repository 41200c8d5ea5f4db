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
