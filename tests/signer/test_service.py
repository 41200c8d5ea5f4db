"""The use-cases: downloads, lifetimes, intent expiry; pure helpers with plain values."""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import Profile
from signer.models import CompleteRequest, PresignRequest
from signer.service import SignerService, checksum_header, rfc3339, token_ttl
from signer.settings import Settings
from signer.storage import Storage
from tests.signer.conftest import Api, Identity, assert_error

DOWNLOAD = "/v1/downloads/presign"


def test_checksum_header_accepts_base64_and_hex() -> None:
    digest = hashlib.sha256(b"x").digest()
    b64 = base64.b64encode(digest).decode()
    assert checksum_header(b64) == b64
    assert checksum_header(digest.hex()) == b64
    assert checksum_header(digest.hex().upper()) == b64
    for bad in ("", "abc", base64.b64encode(b"short").decode(), "z" * 64):
        with pytest.raises(SignerError) as caught:
            checksum_header(bad)
        assert caught.value.code is ErrorCode.BAD_REQUEST


def test_intent_lifetimes() -> None:
    profile = Profile(name="p", mime_types={"text/plain": "txt"}, size_max=10)
    assert token_ttl(profile, "single") == 900 + 3600
    assert token_ttl(profile, "multipart") == 86400
    short = Profile(
        name="p", mime_types={"text/plain": "txt"}, size_max=10, put_ttl=60, get_ttl=60, ttl_max=600
    )
    assert token_ttl(short, "multipart") == 600
    assert rfc3339(datetime(2030, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2030-01-02T03:04:05Z"


def test_an_expired_intent_is_signature_invalid(settings: Settings) -> None:
    storage = Storage.from_settings(settings)
    past = datetime.now(UTC) - timedelta(days=3)
    then = SignerService(settings, storage, clock=lambda: past)
    intent = then.presign_upload(PresignRequest(content_type="text/plain", size_bytes=1), "t")
    assert intent.expires_at == rfc3339(past + timedelta(seconds=900))
    now = SignerService(settings, storage)
    with pytest.raises(SignerError) as caught:
        now.complete(CompleteRequest(intent_token=intent.intent_token), "t")
    assert caught.value.code is ErrorCode.SIGNATURE_INVALID
    assert "expired" in caught.value.message


def test_part_urls_carry_the_profiles_lifetime(api: Api) -> None:
    intent = api.ok("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": 10})
    query = parse_qs(urlsplit(intent["upload"]["url"]).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert parse_qs(urlsplit(intent["get_url"]).query)["X-Amz-Expires"] == ["3600"]


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
