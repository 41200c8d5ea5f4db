"""Browser tokens: the pure part (``signer.core.tokens``: BrowserGrant, issue_grant and
verify_grant, with the clock pinned) and counting uploads against real storage
(``signer.browser_tokens.claim_upload``)."""

from __future__ import annotations

import secrets
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from common.s3vocab import INTENTS_PREFIX
from signer.browser_tokens import claim_upload, grant_subject, read_grant
from signer.core.errors import ErrorCode, SignerError
from signer.core.tokens import BROWSER_GRANT_KIND, BrowserGrant, Intent, Parts, TokenKeys
from signer.service import SignerService
from signer.settings import Settings
from signer.storage import Storage
from tests.signer.conftest import Identity

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PARTY = {"issuer": "minio-stack-signer", "audience": "minio-stack-signer/browser-upload"}
KEYS = TokenKeys.from_secrets(["s" * 40, "t" * 40])
GRANT = BrowserGrant(
    id="a" * 32,
    subject="api-0123456789ab",
    bucket="uploads",
    profile="default",
    size_max=1024,
    count=3,
    origin="https://app.example.com",
)


def issue(grant: BrowserGrant = GRANT, keys: TokenKeys = KEYS, ttl: int = 600) -> str:
    return keys.issue_grant(grant, now=NOW, ttl=ttl, **PARTY)


def refusal(call, *args, **kwargs) -> SignerError:
    with pytest.raises(SignerError) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_grant_round_trips_with_its_expiry() -> None:
    token = issue()
    grant = KEYS.verify_grant(token, now=NOW + timedelta(seconds=599), **PARTY)
    assert grant == replace(GRANT, expires_at=int((NOW + timedelta(seconds=600)).timestamp()))
    assert not grant.expired(NOW + timedelta(seconds=599))
    assert grant.expired(NOW + timedelta(seconds=600))
    assert GRANT.claims()["kind"] == BROWSER_GRANT_KIND


def test_an_old_key_still_verifies_a_grant() -> None:
    token = issue(keys=TokenKeys.from_secrets(["t" * 40]))
    assert KEYS.verify_grant(token, now=NOW, **PARTY).id == GRANT.id


def test_an_expired_grant_is_unauthorized_unless_expiry_is_waived() -> None:
    token = issue(ttl=60)
    later = NOW + timedelta(seconds=61)
    error = refusal(KEYS.verify_grant, token, now=later, **PARTY)
    assert error.code is ErrorCode.UNAUTHORIZED
    assert error.message == "browser token rejected: expired at 2026-03-01T12:01:00+00:00"
    assert "POST /v1/browser-tokens" in (error.hint or "")
    waived = KEYS.verify_grant(token, now=later, allow_expired=True, **PARTY)
    assert waived.expired(later)
    # Waiving expiry waives nothing else: a grant from the future is still refused.
    future = refusal(
        KEYS.verify_grant, token, now=NOW - timedelta(hours=1), allow_expired=True, **PARTY
    )
    assert "issued in the future" in future.message


@pytest.mark.parametrize(
    "mangle, words",
    [
        (lambda t: t[:-4] + ("AAAA" if not t.endswith("AAAA") else "BBBB"), "signature"),
        (lambda t: "x" + t, "malformed"),
        (lambda t: "", "no token"),
        (lambda t: t.replace(".", "", 1), "malformed"),
    ],
)
def test_a_mangled_grant_is_unauthorized(mangle, words: str) -> None:
    error = refusal(KEYS.verify_grant, mangle(issue()), now=NOW, **PARTY)
    assert error.code is ErrorCode.UNAUTHORIZED
    assert error.message.startswith("browser token rejected: ") and words in error.message


def test_another_signers_grant_is_unauthorized() -> None:
    token = issue(keys=TokenKeys.from_secrets(["u" * 40]))
    assert "unknown key id" in refusal(KEYS.verify_grant, token, now=NOW, **PARTY).message


def test_a_grant_and_an_intent_are_never_taken_for_each_other() -> None:
    intent = Intent(
        id="b" * 32,
        subject="api-x",
        bucket="uploads",
        object_key="uploads/a.bin",
        profile="default",
        content_type="application/octet-stream",
        size=10,
        size_max=10,
        strategy="multipart",
        parts=Parts(upload_id="u", part_size=5 * 2**20, part_count=1),
    )
    # Even signed for the same audience, the claims decide: neither kind reads as the other.
    as_intent = KEYS.issue_intent(intent, now=NOW, ttl=60, **PARTY)
    error = refusal(KEYS.verify_grant, as_intent, now=NOW, **PARTY)
    assert (error.code, error.message) == (
        ErrorCode.UNAUTHORIZED,
        "browser token rejected: it is not a browser upload token",
    )
    error = refusal(KEYS.verify_intent, issue(), now=NOW, **PARTY)
    assert error.code is ErrorCode.SIGNATURE_INVALID
    assert error.message.startswith("intent token rejected: ")


def test_intent_verification_is_unchanged() -> None:
    # verify() still answers SIGNATURE_INVALID in the intent's words, expiry included.
    token = KEYS.issue({"x": 1}, now=NOW, ttl=60, **PARTY)
    error = refusal(KEYS.verify, token, now=NOW + timedelta(seconds=60), **PARTY)
    assert error.code is ErrorCode.SIGNATURE_INVALID
    assert error.message == "intent token rejected: expired at 2026-03-01T12:01:00+00:00"


@pytest.mark.parametrize(
    "claims, words",
    [
        ({"size_max": 0}, "at least 1"),
        ({"count": 0}, "at least 1"),
        ({"count": True}, "'count' is not a int"),
        ({"profile": None}, "'profile' is missing"),
        ({"origin": 5}, "'origin' is not a str"),
    ],
)
def test_claims_that_make_no_grant_are_unauthorized(claims: dict, words: str) -> None:
    error = refusal(BrowserGrant.from_claims, {**GRANT.claims(), **claims})
    assert error.code is ErrorCode.UNAUTHORIZED and words in error.message


# --- counting uploads in storage ------------------------------------------------------------


@pytest.fixture
def service(settings: Settings) -> SignerService:
    return SignerService(settings, Storage.from_settings(settings))


def fresh(service: SignerService, count: int) -> BrowserGrant:
    return BrowserGrant(
        id=secrets.token_hex(16),
        subject="api-test",
        bucket=service.settings.bucket,
        profile="default",
        size_max=10,
        count=count,
    )


def test_uploads_are_claimed_in_order_until_count(
    service: SignerService, identity: Identity
) -> None:
    grant = fresh(service, 7)
    assert [claim_upload(service, grant, f"k{n}") for n in range(7)] == [1, 2, 3, 4, 5, 6, 7]
    error = refusal(claim_upload, service, grant, "k8")
    assert (error.code, error.message) == (
        ErrorCode.CONFLICT,
        "this browser token has already started its 7 uploads",
    )
    marker = identity.root.stat_object(identity.bucket, f"{INTENTS_PREFIX}{grant.id}.7")
    assert marker.metadata["x-amz-meta-state"] == "claimed"
    # Another token's count is its own.
    assert claim_upload(service, fresh(service, 1), "k") == 1


def test_concurrent_claims_never_share_an_upload(service: SignerService) -> None:
    grant = fresh(service, 5)
    won: list[int] = []
    lost: list[ErrorCode] = []

    def claim() -> None:
        try:
            won.append(claim_upload(service, grant, "k"))
        except SignerError as exc:
            lost.append(exc.code)

    threads = [threading.Thread(target=claim) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(won) == [1, 2, 3, 4, 5]
    assert lost == [ErrorCode.CONFLICT] * 7


def test_read_grant_checks_the_bucket_and_names_the_upload_subject(
    service: SignerService,
) -> None:
    s = service.settings
    party = {"issuer": s.token_issuer, "audience": s.token_audience + "/browser-upload"}
    mine = fresh(service, 1)
    token = s.keys.issue_grant(mine, now=datetime.now(UTC), ttl=60, **party)
    assert read_grant(service, token, allow_expired=False).id == mine.id
    assert grant_subject(mine) == f"browser-{mine.id}"
    other = s.keys.issue_grant(
        replace(mine, bucket="elsewhere"), now=datetime.now(UTC), ttl=60, **party
    )
    error = refusal(read_grant, service, other, allow_expired=False)
    assert error.code is ErrorCode.UNAUTHORIZED and "another bucket" in error.message
