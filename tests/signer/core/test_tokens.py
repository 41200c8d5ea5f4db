"""Intent tokens: issue/verify round trips, every rejection, key rotation, and the typed
Intent on top (its wire format, and claims that do not make one)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from signer.core.errors import ErrorCode, SignerError
from signer.core.tokens import Intent, Parts, TokenKeys

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
OLD = "old-secret-0123456789abcdef0123456789"
NEW = "new-secret-0123456789abcdef0123456789"
ISS = "minio-stack-signer"
AUD = "upload-intent"
CLAIMS = {
    "sub": "user-7",
    "bucket": "uploads",
    "object_key": "uploads/2026/11/x.png",
    "mime": "image/png",
    "size_max": 1234,
    "strategy": "single",
    "part_size": 0,
    "upload_id": None,
    "headers_required": {"content-type": "image/png", "if-none-match": "*"},
    "jti": "intent-1",
}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _issue(keys: TokenKeys, ttl: int = 900, claims: dict | None = None) -> str:
    return keys.issue(claims or CLAIMS, now=NOW, ttl=ttl, issuer=ISS, audience=AUD)


def _rejected(
    keys: TokenKeys,
    token: str,
    *,
    now: datetime = NOW,
    issuer: str = ISS,
    audience: str = AUD,
    object_key: str | None = None,
) -> SignerError:
    with pytest.raises(SignerError) as info:
        keys.verify(token, now=now, issuer=issuer, audience=audience, object_key=object_key)
    assert info.value.code is ErrorCode.SIGNATURE_INVALID
    assert info.value.hint
    return info.value


@pytest.fixture(scope="module")
def keys() -> TokenKeys:
    return TokenKeys.from_secrets([OLD])


@pytest.fixture(scope="module")
def ec_pem() -> bytes:
    return ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture(scope="module")
def rsa_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def test_round_trip_returns_the_claims_plus_registered_ones(keys: TokenKeys) -> None:
    token = _issue(keys)
    claims = keys.verify(token, now=NOW, issuer=ISS, audience=AUD, object_key=CLAIMS["object_key"])
    assert claims == {
        **CLAIMS,
        "iat": int(NOW.timestamp()),
        "exp": int(NOW.timestamp()) + 900,
        "iss": ISS,
        "aud": AUD,
        "kid": keys.active_kid,  # the spec's UploadIntent lists kid among its claims
    }
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "ES256"
    assert header["kid"] == keys.active_kid
    assert len(keys.active_kid) == 16


def test_no_jti_is_invented(keys: TokenKeys) -> None:
    token = _issue(keys, claims={"sub": "u"})
    assert "jti" not in keys.verify(token, now=NOW, issuer=ISS, audience=AUD)


def test_same_secret_gives_the_same_key_on_every_replica(keys: TokenKeys) -> None:
    replica = TokenKeys.from_secrets([OLD])
    assert replica.active_kid == keys.active_kid
    assert replica.verify(_issue(keys), now=NOW, issuer=ISS, audience=AUD)["sub"] == "user-7"
    assert TokenKeys.from_secrets([NEW]).active_kid != keys.active_kid


def test_kid_is_sha256_of_the_public_key_der(ec_pem: bytes) -> None:
    keys = TokenKeys.from_pem(ec_pem)
    der = (
        serialization.load_pem_private_key(ec_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert keys.active_kid == hashlib.sha256(der).hexdigest()[:16]


def test_expiry_is_checked_against_the_given_clock(keys: TokenKeys) -> None:
    token = _issue(keys, ttl=60)
    assert keys.verify(token, now=NOW + timedelta(seconds=59), issuer=ISS, audience=AUD)
    error = _rejected(keys, token, now=NOW + timedelta(seconds=60))
    assert "expired" in error.message


def test_issued_in_the_future_is_rejected(keys: TokenKeys) -> None:
    token = _issue(keys, ttl=3600)
    error = _rejected(keys, token, now=NOW - timedelta(minutes=5))
    assert "future" in error.message
    assert keys.verify(token, now=NOW - timedelta(seconds=30), issuer=ISS, audience=AUD)


def test_wrong_audience_and_issuer(keys: TokenKeys) -> None:
    token = _issue(keys)
    assert "audience" in _rejected(keys, token, audience="download").message
    assert "issuer" in _rejected(keys, token, issuer="someone-else").message


def test_object_key_mismatch(keys: TokenKeys) -> None:
    error = _rejected(keys, _issue(keys), object_key="uploads/2026/11/other.png")
    assert "object_key" in error.message


def test_tampered_payload_fails_the_signature(keys: TokenKeys) -> None:
    header, payload, sig = _issue(keys).split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["size_max"] = 10**12
    forged = ".".join([header, _b64(json.dumps(claims).encode()), sig])
    assert "signature" in _rejected(keys, forged).message


def test_alg_none_is_rejected(keys: TokenKeys) -> None:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": keys.active_kid}).encode())
    payload = _b64(json.dumps({**CLAIMS, "iat": 1, "exp": 2**40, "iss": ISS, "aud": AUD}).encode())
    assert "'none' is not accepted" in _rejected(keys, f"{header}.{payload}.").message
    assert "malformed" in _rejected(keys, f"{header}.{payload}").message


def test_hs256_forged_with_the_public_key_is_rejected(ec_pem: bytes) -> None:
    keys = TokenKeys.from_pem(ec_pem)
    public_pem = (
        serialization.load_pem_private_key(ec_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": keys.active_kid}).encode())
    payload = _b64(
        json.dumps(
            {
                **CLAIMS,
                "iat": int(NOW.timestamp()),
                "exp": int(NOW.timestamp()) + 60,
                "iss": ISS,
                "aud": AUD,
            }
        ).encode()
    )
    signing_input = f"{header}.{payload}".encode()
    sig = _b64(hmac.new(public_pem, signing_input, hashlib.sha256).digest())
    error = _rejected(keys, f"{header}.{payload}.{sig}")
    assert "'HS256' is not accepted" in error.message


def test_an_accepted_alg_that_is_not_the_kid_keys_alg_is_rejected(
    ec_pem: bytes, rsa_pem: bytes
) -> None:
    mixed = TokenKeys.from_pem(ec_pem, [rsa_pem])
    rsa_kid = TokenKeys.from_pem(rsa_pem).active_kid
    assert mixed.algorithms == ("ES256", "RS256")
    token = jwt.encode(
        {"iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60, "iss": ISS, "aud": AUD},
        serialization.load_pem_private_key(ec_pem, None),
        algorithm="ES256",
        headers={"kid": rsa_kid},
    )
    assert "does not match key" in _rejected(mixed, token).message


def test_unknown_kid_and_missing_kid(keys: TokenKeys, ec_pem: bytes) -> None:
    stranger = TokenKeys.from_secrets([NEW])
    assert "unknown key id" in _rejected(keys, _issue(stranger)).message
    no_kid = jwt.encode(
        {"iat": 1, "exp": 2**40, "iss": ISS, "aud": AUD},
        serialization.load_pem_private_key(ec_pem, None),
        algorithm="ES256",
    )
    assert "unknown key id None" in _rejected(TokenKeys.from_pem(ec_pem), no_kid).message


@pytest.mark.parametrize("missing", ["exp", "iat", "iss", "aud"])
def test_required_claims(ec_pem: bytes, missing: str) -> None:
    keys = TokenKeys.from_pem(ec_pem)
    claims = {"iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60, "iss": ISS, "aud": AUD}
    del claims[missing]
    token = jwt.encode(
        claims,
        serialization.load_pem_private_key(ec_pem, None),
        algorithm="ES256",
        headers={"kid": keys.active_kid},
    )
    assert f"missing claim {missing!r}" in _rejected(keys, token).message


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "x" * 20000, None])
def test_malformed_tokens(keys: TokenKeys, token: object) -> None:
    _rejected(keys, token)  # type: ignore[arg-type]


def test_rotation_old_tokens_verify_until_the_old_key_is_removed(keys: TokenKeys) -> None:
    old_token = _issue(keys)
    rotated = TokenKeys.from_secrets([NEW, OLD])
    assert rotated.active_kid != keys.active_kid
    assert set(rotated.kids) == {rotated.active_kid, keys.active_kid}
    assert rotated.verify(old_token, now=NOW, issuer=ISS, audience=AUD)["jti"] == "intent-1"
    new_token = _issue(rotated)
    assert jwt.get_unverified_header(new_token)["kid"] == rotated.active_kid
    assert "unknown key id" in _rejected(keys, new_token).message
    removed = TokenKeys.from_secrets([NEW])
    assert "unknown key id" in _rejected(removed, old_token).message
    assert removed.verify(new_token, now=NOW, issuer=ISS, audience=AUD)["sub"] == "user-7"


def test_from_pem_rsa_and_ec(ec_pem: bytes, rsa_pem: bytes) -> None:
    rsa_keys = TokenKeys.from_pem(rsa_pem)
    token = _issue(rsa_keys)
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert rsa_keys.verify(token, now=NOW, issuer=ISS, audience=AUD)["sub"] == "user-7"
    ec_keys = TokenKeys.from_pem(ec_pem)
    assert jwt.get_unverified_header(_issue(ec_keys))["alg"] == "ES256"


def _reference(keys: TokenKeys, pem: bytes, alg: str) -> str:
    """What PyJWT's own jwt.encode makes of the same claims with the same key."""
    payload = {**CLAIMS, "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 900}
    private = serialization.load_pem_private_key(pem, None)
    return jwt.encode(
        {**payload, "iss": ISS, "aud": AUD, "kid": keys.active_kid},
        private,
        algorithm=alg,
        headers={"kid": keys.active_kid},
    )


def test_tokens_are_what_jwt_encode_makes(ec_pem: bytes, rsa_pem: bytes) -> None:
    # RS256 signatures are deterministic: the whole token is byte for byte PyJWT's.
    rsa_keys = TokenKeys.from_pem(rsa_pem)
    assert _issue(rsa_keys) == _reference(rsa_keys, rsa_pem, "RS256")
    # ES256 signatures are randomised: the header and payload are PyJWT's, and PyJWT (with
    # nothing but the public key) accepts the signature.
    ec_keys = TokenKeys.from_pem(ec_pem)
    token = _issue(ec_keys)
    assert token.split(".")[:2] == _reference(ec_keys, ec_pem, "ES256").split(".")[:2]
    public = serialization.load_pem_private_key(ec_pem, None).public_key()
    decoded = jwt.decode(
        token,
        public,
        algorithms=["ES256"],
        audience=AUD,
        issuer=ISS,
        options={"verify_exp": False},  # issued at the tests' fixed NOW
    )
    assert decoded["object_key"] == CLAIMS["object_key"]
    assert len(base64.urlsafe_b64decode(token.split(".")[2] + "==")) == 64  # raw r || s


def test_from_pem_previous_public_key_still_verifies(ec_pem: bytes, rsa_pem: bytes) -> None:
    old_token = _issue(TokenKeys.from_pem(ec_pem))
    public_pem = (
        serialization.load_pem_private_key(ec_pem, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    rotated = TokenKeys.from_pem(rsa_pem, [public_pem])
    assert rotated.verify(old_token, now=NOW, issuer=ISS, audience=AUD)["jti"] == "intent-1"
    assert jwt.get_unverified_header(_issue(rotated))["alg"] == "RS256"


def _pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: _pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (lambda: _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024)), "2048 bits"),  # noqa: S505 - must be refused
        (lambda: b"not a key", "PEM"),
        (
            lambda: ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.BestAvailableEncryption(b"pw"),
            ),
            "unencrypted",
        ),
    ],
    ids=["p384", "rsa1024", "garbage", "encrypted"],
)
def test_from_pem_refuses_unusable_keys(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenKeys.from_pem(make())


def test_from_pem_refuses_a_bad_previous_key(ec_pem: bytes) -> None:
    with pytest.raises(ValueError, match="previous key #1"):
        TokenKeys.from_pem(ec_pem, [b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----"])
    with pytest.raises(ValueError, match="twice"):
        TokenKeys.from_pem(ec_pem, [ec_pem])


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (["short"], "at least 32 characters"),
        ([OLD, "x" * 31], "secret #2 must be at least 32"),
        ([], "at least one"),
        (OLD, "list"),
        ([OLD, OLD], "twice"),
        ([None], "at least 32"),
    ],
)
def test_from_secrets_rules(secrets, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenKeys.from_secrets(secrets)


def test_from_secrets_only_es256() -> None:
    with pytest.raises(ValueError, match="ES256"):
        TokenKeys.from_secrets([OLD], alg="HS256")


def test_error_never_contains_the_secret() -> None:
    with pytest.raises(ValueError) as info:
        TokenKeys.from_secrets(["s3cr3t-but-too-short"])
    assert "s3cr3t" not in str(info.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ttl": 0}, "positive"),
        ({"ttl": True}, "positive"),
        ({"now": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"claims": {"exp": 1}}, "set by issue"),
        ({"claims": {"aud": "x", "iss": "y"}}, "aud, iss"),
    ],
)
def test_issue_refuses_bad_arguments(keys: TokenKeys, kwargs: dict, message: str) -> None:
    args = {"claims": CLAIMS, "now": NOW, "ttl": 60, "issuer": ISS, "audience": AUD, **kwargs}
    claims = args.pop("claims")
    with pytest.raises(ValueError, match=message):
        keys.issue(claims, **args)


# --- the typed intent on top -------------------------------------------------------------------

SINGLE = Intent(
    id="intent-1",
    subject="user-7",
    bucket="uploads",
    object_key="uploads/2026/11/x.png",
    profile="default",
    content_type="image/png",
    size=1234,
    size_max=1234,
    strategy="single",
    required_headers={"x-amz-server-side-encryption": "AES256"},
    filename="x.png",
)
MULTIPART = dataclasses.replace(
    SINGLE, strategy="multipart", parts=Parts(upload_id="up-1", part_size=5, part_count=247)
)
POST = dataclasses.replace(SINGLE, strategy="post", size=None, size_max=5000, filename=None)


def _payload(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


FIRST_RELEASE_CLAIMS = [
    ("sub", "user-7"),
    ("jti", "intent-1"),
    ("bucket", "uploads"),
    ("object_key", "uploads/2026/11/x.png"),
    ("profile", "default"),
    ("mime", "image/png"),
    ("size", 1234),
    ("size_max", 1234),
    ("strategy", "multipart"),
    ("headers_required", {"x-amz-server-side-encryption": "AES256"}),
    ("filename", "x.png"),
    ("part_size", 5),
    ("part_count", 247),
    ("upload_id", "up-1"),
]


def test_an_intent_is_written_with_the_same_claims_as_ever(keys: TokenKeys) -> None:
    """The wire format: the first release's claim names in their order, then those added
    since (the spec's key_base, ext, shard; azp, the API token behind the actor in sub; the
    window's end), then the registered ones and the spec's kid."""
    token = keys.issue_intent(
        dataclasses.replace(MULTIPART, renew_until=int(NOW.timestamp()) + 86400),
        now=NOW,
        ttl=900,
        issuer=ISS,
        audience=AUD,
    )
    assert list(_payload(token).items()) == [
        *FIRST_RELEASE_CLAIMS,
        ("azp", "user-7"),
        ("key_base", None),
        ("ext", None),
        ("shard", None),
        ("renew_until", int(NOW.timestamp()) + 86400),
        ("iat", int(NOW.timestamp())),
        ("exp", int(NOW.timestamp()) + 900),
        ("iss", ISS),
        ("aud", AUD),
        ("kid", keys.active_kid),
    ]
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": keys.active_kid, "typ": "JWT"}
    single = _payload(keys.issue_intent(SINGLE, now=NOW, ttl=900, issuer=ISS, audience=AUD))
    assert "upload_id" not in single and "part_size" not in single
    assert "tenant" not in single and "endpoint" not in single  # only when set


def test_a_token_of_the_first_release_still_makes_its_intent(keys: TokenKeys) -> None:
    """Tokens in flight across an upgrade: no azp, actor, key_base, window or kid claim."""
    claims = dict(FIRST_RELEASE_CLAIMS)
    token = jwt.encode(
        {**claims, "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 86400}
        | {"iss": ISS, "aud": AUD},
        keys._active.private_key,
        algorithm="ES256",
        headers={"kid": keys.active_kid},
    )
    intent = keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)
    assert intent == dataclasses.replace(MULTIPART, expires_at=int(NOW.timestamp()) + 86400)
    assert (intent.subject, intent.actor, intent.key_base, intent.renew_until) == (
        "user-7",
        None,
        None,
        None,
    )


def test_the_spec_claims_round_trip_and_sub_names_the_actor(keys: TokenKeys) -> None:
    intent = dataclasses.replace(
        SINGLE,
        subject="api-0123456789ab",
        actor="user:42",
        key_base="01J9ZKQ8",
        ext="png",
        shard="3f",
        tenant="acme",
        endpoint="internal",
        renew_until=int(NOW.timestamp()) + 4500,
    )
    token = keys.issue_intent(intent, now=NOW, ttl=900, issuer=ISS, audience=AUD)
    payload = _payload(token)
    assert (payload["sub"], payload["azp"]) == ("user:42", "api-0123456789ab")
    assert {k: payload[k] for k in ("key_base", "ext", "shard", "tenant", "endpoint")} == {
        "key_base": "01J9ZKQ8",
        "ext": "png",
        "shard": "3f",
        "tenant": "acme",
        "endpoint": "internal",
    }
    read = keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)
    assert read == dataclasses.replace(intent, expires_at=int(NOW.timestamp()) + 900)


def test_an_expired_intent_is_read_only_when_asked(keys: TokenKeys) -> None:
    token = keys.issue_intent(SINGLE, now=NOW, ttl=60, issuer=ISS, audience=AUD)
    later = NOW + timedelta(seconds=61)
    with pytest.raises(SignerError, match="expired at"):
        keys.verify_intent(token, now=later, issuer=ISS, audience=AUD)
    intent = keys.verify_intent(token, now=later, issuer=ISS, audience=AUD, allow_expired=True)
    assert intent.expires_at == int(NOW.timestamp()) + 60
    # Everything else is still checked.
    with pytest.raises(SignerError, match="wrong audience"):
        keys.verify_intent(token, now=later, issuer=ISS, audience="other", allow_expired=True)


def test_a_kid_claim_must_name_the_signing_key(keys: TokenKeys) -> None:
    other = TokenKeys.from_secrets([NEW])
    claims = {**SINGLE.claims(), "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 60}
    token = jwt.encode(
        {**claims, "iss": ISS, "aud": AUD, "kid": other.active_kid},
        keys._active.private_key,
        algorithm="ES256",
        headers={"kid": keys.active_kid},
    )
    with pytest.raises(SignerError, match="claim 'kid' does not match"):
        keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)
    with pytest.raises(ValueError, match="are set by issue"):
        keys.issue({"kid": "mine"}, now=NOW, ttl=60, issuer=ISS, audience=AUD)


def test_with_active_picks_the_signing_key_and_keeps_the_others(ec_pem: bytes) -> None:
    both = TokenKeys.from_secrets([OLD, NEW])
    new_kid = TokenKeys.from_secrets([NEW]).active_kid
    switched = both.with_active(new_kid)
    assert switched.active_kid == new_kid and set(switched.kids) == set(both.kids)
    token = _issue(both)  # signed by OLD: still verified after the switch
    assert switched.verify(token, now=NOW, issuer=ISS, audience=AUD)["kid"] == both.active_kid
    assert jwt.get_unverified_header(_issue(switched))["kid"] == new_kid
    with pytest.raises(ValueError, match="not a key of the set; keys that can sign"):
        both.with_active("0000000000000000")
    assert both.active_alg == "ES256"
    retired = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = retired.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with_public = TokenKeys.from_pem(ec_pem, [pem])
    public_kid = next(kid for kid in with_public.kids if kid != with_public.active_kid)
    with pytest.raises(ValueError, match="a public key"):
        with_public.with_active(public_kid)


@pytest.mark.parametrize("intent", [SINGLE, MULTIPART, POST], ids=lambda i: i.strategy)
def test_an_intent_round_trips(keys: TokenKeys, intent: Intent) -> None:
    token = keys.issue_intent(intent, now=NOW, ttl=900, issuer=ISS, audience=AUD)
    expires = int(NOW.timestamp()) + 900  # read back from exp
    read = keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)
    assert read == dataclasses.replace(intent, expires_at=expires)


def test_a_multipart_intent_is_issued_only_with_its_upload(keys: TokenKeys) -> None:
    pending = dataclasses.replace(MULTIPART, parts=None)
    with pytest.raises(ValueError, match="once its upload exists"):
        keys.issue_intent(pending, now=NOW, ttl=900, issuer=ISS, audience=AUD)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"strategy": "carrier-pigeon"}, "claim 'strategy'"),
        ({"jti": None}, "claim 'jti' is missing"),
        ({"object_key": 7}, "claim 'object_key' is not a str"),
        ({"size_max": True}, "claim 'size_max' is not a int"),
        ({"size": None}, "claim 'size' is missing"),
        ({"headers_required": ["x"]}, "headers_required"),
        ({"headers_required": {"x-amz-meta-v": 1}}, "headers_required"),
        ({"filename": 3}, "claim 'filename'"),
    ],
)
def test_claims_that_do_not_make_an_intent_are_signature_invalid(
    keys: TokenKeys, change: dict, message: str
) -> None:
    """Only a holder of the key could sign these; the signer still refuses them cleanly."""
    claims = {k: v for k, v in {**SINGLE.claims(), **change}.items() if v is not None}
    token = keys.issue(claims, now=NOW, ttl=900, issuer=ISS, audience=AUD)
    with pytest.raises(SignerError) as info:
        keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)
    assert info.value.code is ErrorCode.SIGNATURE_INVALID
    assert message in info.value.message


def test_a_multipart_intent_needs_its_upload_claims(keys: TokenKeys) -> None:
    claims = {k: v for k, v in MULTIPART.claims().items() if k != "upload_id"}
    token = keys.issue(claims, now=NOW, ttl=900, issuer=ISS, audience=AUD)
    with pytest.raises(SignerError, match="claim 'upload_id' is missing"):
        keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD)


def test_an_intent_without_a_filename_claim_reads_as_none(keys: TokenKeys) -> None:
    """``filename`` was always optional: a token without it is still a valid intent."""
    claims = {k: v for k, v in SINGLE.claims().items() if k != "filename"}
    token = keys.issue(claims, now=NOW, ttl=900, issuer=ISS, audience=AUD)
    assert keys.verify_intent(token, now=NOW, issuer=ISS, audience=AUD).filename is None
