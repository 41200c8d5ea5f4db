"""What the use-cases share (signer.service): intent windows and token lifetimes, reading an
intent token back (strictly, or within its window), the profile a download key falls under,
the endpoint URLs are signed for."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import Profile
from signer.core.tokens import Intent
from signer.models import CompleteRequest, PresignRequest
from signer.service import SignerService, intent_window, rfc3339
from signer.settings import Settings
from signer.storage import Storage
from signer.uploads import complete_upload, execute_upload, plan_upload, presign_upload
from tests.signer.conftest import Api


def test_intent_windows() -> None:
    profile = Profile(name="p", mime_types={"text/plain": "txt"}, size_max=10)
    assert intent_window(profile, "single") == 900 + 3600
    assert intent_window(profile, "multipart") == 86400
    short = Profile(
        name="p", mime_types={"text/plain": "txt"}, size_max=10, put_ttl=60, get_ttl=60, ttl_max=600
    )
    assert intent_window(short, "multipart") == 600
    assert rfc3339(datetime(2030, 1, 2, 3, 4, 5, 999, tzinfo=UTC)) == "2030-01-02T03:04:05Z"


@pytest.mark.parametrize("offset_minutes", [0, 90, -330, 14 * 60])
def test_rfc3339_is_utc_to_the_second_whatever_the_zone(offset_minutes: int) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    for moment in (
        datetime(2030, 12, 31, 23, 59, 59, 999999, tzinfo=zone),
        datetime(2026, 1, 1, 0, 0, 0, tzinfo=zone),
    ):
        expected = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert rfc3339(moment) == expected


def test_a_planned_intent_opens_its_window_when_it_is_decided(settings: Settings) -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    service = SignerService(settings, Storage.from_settings(settings), clock=lambda: now)
    request = PresignRequest(content_type="text/plain", size_bytes=1)
    plan = plan_upload(service, request, "t")
    assert plan.intent.renew_until == int(now.timestamp()) + 4500
    assert service.windowed(plan.intent, plan.profile, now) is plan.intent  # nothing to add
    answer = execute_upload(service, plan)
    read = service.read_intent(answer.intent_token)
    assert read.renew_until == plan.intent.renew_until


def test_a_token_lives_token_ttl_within_its_window(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    profile = settings.policy.profile(None)
    fresh = _intent(settings)
    assert service.token_life(fresh, profile, now) == 900  # token_ttl, the spec's 15 minutes
    assert service.windowed(fresh, profile, now).renew_until == int(now.timestamp()) + 4500
    closing = dataclasses.replace(fresh, renew_until=int(now.timestamp()) + 100)
    assert service.token_life(closing, profile, now) == 100  # never past the window
    assert service.windowed(closing, profile, now) is closing  # the first token opened it
    brief = dataclasses.replace(profile, token_ttl=300)
    assert service.token_life(fresh, brief, now) == 300


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
    assert "upload window ended" in caught.value.message


def test_an_expired_token_is_read_within_its_window_only_when_asked(settings: Settings) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = [start]
    service = SignerService(settings, Storage.from_settings(settings), clock=lambda: clock[0])
    intent = dataclasses.replace(_intent(settings), renew_until=int(start.timestamp()) + 600)
    token = _token(settings, intent, now=start)  # lives 60 s
    clock[0] = start + timedelta(seconds=61)
    with pytest.raises(SignerError, match="expired at"):
        service.read_intent(token)
    with pytest.raises(SignerError) as caught:
        service.read_live_intent(token)
    assert "/v1/uploads/refresh" in (caught.value.hint or "")
    assert service.read_intent(token, renewable=True).id == intent.id
    clock[0] = start + timedelta(seconds=600)
    with pytest.raises(SignerError, match="upload window ended"):
        service.read_intent(token, renewable=True)


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


def _token(settings: Settings, intent: Intent, now: datetime | None = None) -> str:
    return settings.keys.issue_intent(
        intent,
        now=now or datetime.now(UTC),
        ttl=60,
        issuer=settings.token_issuer,
        audience=settings.token_audience,
    )


def test_an_intent_is_read_back_typed(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    intent = _intent(settings, filename="x.txt")
    read = service.read_intent(_token(settings, intent))
    assert read.expires_at is not None
    # A token with no window (issued before windows) may not be renewed past its exp.
    expected = dataclasses.replace(intent, expires_at=read.expires_at, renew_until=read.expires_at)
    assert read == expected


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


def test_urls_are_signed_for_the_endpoint_asked_for(settings: Settings) -> None:
    service = SignerService(settings, Storage.from_settings(settings))
    now = datetime.now(UTC)
    public = service.sign("GET", "uploads/k.txt", now=now, expires=60)
    internal = service.sign("GET", "uploads/k.txt", now=now, expires=60, endpoint="internal")
    assert urlsplit(public).netloc == urlsplit(settings.public_endpoint).netloc
    # SIGNER_INTERNAL_ENDPOINT is unset in the tests: the endpoint the signer itself calls.
    assert urlsplit(internal).netloc == urlsplit(settings.s3_endpoint).netloc
    assert service.endpoint_url("internal") == settings.s3_endpoint


def test_an_internal_endpoint_of_its_own(settings: Settings) -> None:
    """SIGNER_INTERNAL_ENDPOINT, when set, is the host internal URLs are signed for."""
    port = urlsplit(settings.s3_endpoint).port
    inside = dataclasses.replace(settings, internal_endpoint=f"http://minio.internal:{port}")
    service = SignerService(inside, Storage.from_settings(inside))
    url = service.sign(
        "PUT", "uploads/k.txt", now=datetime.now(UTC), expires=60, endpoint="internal"
    )
    assert urlsplit(url).netloc == f"minio.internal:{port}"
    assert service.endpoint_url("public") == settings.public_endpoint
