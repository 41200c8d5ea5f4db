"""What the use-cases share (signer.service): intent lifetimes, reading an intent token back,
the profile a download key falls under."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import Profile
from signer.core.tokens import Intent
from signer.models import CompleteRequest, PresignRequest
from signer.service import SignerService, rfc3339, token_ttl
from signer.settings import Settings
from signer.storage import Storage
from signer.uploads import complete_upload, presign_upload
from tests.signer.conftest import Api


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
    request = PresignRequest(content_type="text/plain", size_bytes=1)
    intent = presign_upload(then, request, "t")
    assert intent.expires_at == rfc3339(past + timedelta(seconds=900))
    now = SignerService(settings, storage)
    with pytest.raises(SignerError) as caught:
        complete_upload(now, CompleteRequest(intent_token=intent.intent_token), "t")
    assert caught.value.code is ErrorCode.SIGNATURE_INVALID
    assert "expired" in caught.value.message


def test_part_urls_carry_the_profiles_lifetime(api: Api) -> None:
    intent = api.ok("/v1/uploads/presign", {"content_type": "text/plain", "size_bytes": 10})
    query = parse_qs(urlsplit(intent["upload"]["url"]).query)
    assert query["X-Amz-Expires"] == ["900"]
    assert parse_qs(urlsplit(intent["get_url"]).query)["X-Amz-Expires"] == ["3600"]


def _intent(settings: Settings, **changes: object) -> Intent:
    fields: dict[str, Any] = {
        "id": "intent-1",
        "subject": "t",
        "bucket": settings.bucket,
        "object_key": "uploads/2026/01/x.txt",
        "profile": "small",
        "content_type": "text/plain",
        "size": 1,
        "size_max": 1,
        "strategy": "single",
        **changes,
    }
    return Intent(**fields)


def _token(settings: Settings, intent: Intent) -> str:
    return settings.keys.issue_intent(
        intent,
        now=datetime.now(UTC),
        ttl=60,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


def test_an_intent_is_read_back_typed(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    intent = _intent(settings, filename="x.txt")
    assert service.read_intent(_token(settings, intent)) == intent


def test_an_intent_for_another_bucket_is_signature_invalid(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    token = _token(settings, _intent(settings, bucket="somebody-elses"))
    with pytest.raises(SignerError) as caught:
        service.read_intent(token)
    assert caught.value.code is ErrorCode.SIGNATURE_INVALID
    assert "another bucket" in caught.value.message


def test_an_intents_profile_outlives_a_policy_change(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    assert service.intent_profile(_intent(settings)).name == "small"
    assert service.intent_profile(_intent(settings, profile="removed")).name == "default"


def test_a_download_key_belongs_to_the_most_specific_profile(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    assert service.profile_for_key("listings/ab/k.mov").name == "listing"
    assert service.profile_for_key("small/2026/01/k.txt").name == "small"
    assert service.profile_for_key("uploads/2026/01/k.txt").name == "default"
    with pytest.raises(SignerError, match="outside every upload profile"):
        service.profile_for_key("elsewhere/k.txt")


def test_get_url_pins_what_the_download_serves(settings: Settings) -> None:
    """An upload's get_url says inline, under the original name if there is one, as the
    declared type: whatever the object carries, storage serves that."""
    service = SignerService(settings, Storage.from_settings(settings))
    profile = settings.policy.profile(None)
    now = datetime.now(UTC)

    def query(filename: str | None) -> dict[str, list[str]]:
        url = service.get_url("uploads/k.txt", profile, filename, "text/plain; charset=utf-8", now)
        return parse_qs(urlsplit(url).query)

    named = query("Bericht.txt")
    assert named["response-content-disposition"] == [
        "inline; filename=\"Bericht.txt\"; filename*=UTF-8''Bericht.txt"
    ]
    assert named["response-content-type"] == ["text/plain; charset=utf-8"]
    assert query(None)["response-content-disposition"] == ["inline"]
