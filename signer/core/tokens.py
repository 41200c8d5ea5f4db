"""Intent tokens: short-lived JWTs binding an upload's approved key, type, size and headers.

The signer issues one with each upload intent and verifies it when the client comes back
(part URLs, completion). Keys form a set: the active key signs, every key verifies, chosen by
the token's ``kid`` header, so rotating means putting the new secret first and keeping the old
one until its tokens have expired. Accepted algorithms come from the key set, never from the
token: ``none`` and HMAC (the classic "HS256 signed with the public key" forgery) are refused.

Secrets become P-256 keys through HKDF-SHA256, so every replica given the same environment
variable (Render's ``generateValue`` can make one) has the same keys.

Two layers: ``issue``/``verify`` are plain JWTs (any claims, checked signature, times,
issuer and audience); ``issue_intent``/``verify_intent`` put a typed ``Intent`` on top, so the
rest of the signer reads ``intent.object_key``, never ``claims["object_key"]``, and a token
whose claims do not make an intent is refused like a forged one. The claim names on the wire
are the intent's stable format: tokens issued before a deploy still verify after it.
``issue_grant``/``verify_grant`` do the same for a ``BrowserGrant``, what one browser upload
token allows; a refused one is UNAUTHORIZED, since it stands in for an API token.

Intent claims added since the first release are optional when read (``azp``, ``key_base``,
``ext``, ``shard``, ``tenant``, ``endpoint``, ``renew_until``), so a token issued before an
upgrade still completes after it. Every token also carries its ``kid`` as a claim (the
spec's UploadIntent lists it), which must equal the header's; the header's picks the key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from signer.core.errors import ErrorCode, SignerError

MIN_SECRET_CHARS = 32
MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud")
# Claims issue() sets itself; taking them from the caller would let one override another.
_RESERVED_CLAIMS = frozenset({"exp", "iat", "iss", "aud", "nbf", "kid"})
_HKDF_SALT = b"minio-stack/signer/intent-token"
_HKDF_INFO = b"ES256 P-256 private key v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Replicas' clocks differ a little; a token issued further in the future than this is not ours.
_FUTURE_IAT_LEEWAY = 60
_MAX_TOKEN_CHARS = 16 * 1024
_HINT = "request a new upload intent"
_GRANT_HINT = "ask your backend for a new browser token (POST /v1/browser-tokens)"
BROWSER_GRANT_KIND = "browser-upload"

T = TypeVar("T")
IntentStrategy = Literal["single", "multipart", "post"]
Endpoint = Literal["public", "internal"]
_STRATEGIES: dict[object, IntentStrategy] = {
    "single": "single",
    "multipart": "multipart",
    "post": "post",
}


@dataclass(frozen=True)
class _Key:
    kid: str
    alg: str
    public_key: Any
    private_key: Any | None = None


def _kid(public_key: Any) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


def _alg_for(key: Any, which: str) -> str:
    public = key.public_key() if hasattr(key, "private_bytes") else key
    if isinstance(public, rsa.RSAPublicKey):
        if public.key_size < MIN_RSA_BITS:
            raise ValueError(f"{which}: RSA keys must have at least {MIN_RSA_BITS} bits")
        return "RS256"
    if isinstance(public, ec.EllipticCurvePublicKey) and isinstance(public.curve, ec.SECP256R1):
        return "ES256"
    raise ValueError(f"{which}: use an RSA (RS256) or EC P-256 (ES256) key")


def _derive_p256(secret: str) -> ec.EllipticCurvePrivateKey:
    material = HKDF(algorithm=hashes.SHA256(), length=48, salt=_HKDF_SALT, info=_HKDF_INFO).derive(
        secret.encode("utf-8")
    )
    # 48 bytes reduced mod (n-1), plus 1: a scalar in [1, n-1] with negligible bias.
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _timestamp(now: datetime) -> int:
    if not isinstance(now, datetime) or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime (UTC)")
    return int(now.astimezone(UTC).timestamp())


def _b64url(data: bytes) -> bytes:
    # JWS base64url: the URL-safe alphabet without padding (RFC 7515 section 2)
    return base64.urlsafe_b64encode(data).rstrip(b"=")


# What jwt.encode serialises a payload with; one encoder, built once (json.dumps builds a new
# one on every call given any option).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"))


def _header_segment(key: _Key) -> bytes:
    """The encoded JOSE header of the tokens ``key`` signs, as ``jwt.encode`` writes it."""
    header = {"typ": "JWT", "alg": key.alg, "kid": key.kid}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def _jws_signer(key: _Key) -> Callable[[bytes], bytes]:
    """What signs a JWS signing input with ``key``, as PyJWT's ES256 and RS256 do, with the
    hash and padding objects made once rather than on every token."""
    private = key.private_key
    if private is None:
        raise ValueError(f"key {key.kid} is a public key (it cannot sign)")
    if key.alg == "ES256":
        ecdsa = ec.ECDSA(hashes.SHA256())

        def sign_es256(data: bytes) -> bytes:
            # JWS wants r || s, 32 bytes each (RFC 7518 section 3.4), not the DER cryptography
            # returns.
            r, s = decode_dss_signature(private.sign(data, ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")

        return sign_es256
    if key.alg != "RS256":
        raise ValueError(f"key {key.kid}: cannot sign {key.alg}")
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def sign_rs256(data: bytes) -> bytes:
        signature: bytes = private.sign(data, pkcs1, sha256)
        return signature

    return sign_rs256


def _invalid(message: str) -> SignerError:
    return SignerError(ErrorCode.SIGNATURE_INVALID, f"intent token rejected: {message}", _HINT)


@dataclass(frozen=True)
class Parts:
    """A multipart intent's upload on storage and how its object is split."""

    upload_id: str
    part_size: int
    part_count: int


@dataclass(frozen=True)
class Intent:
    """What one upload may be, as the signer decided it; an intent token carries exactly this.

    ``size`` is the declared size (None only for a form upload that declared none);
    ``size_max`` is what storage may end up holding. ``parts`` is set for a multipart intent
    once storage has created its upload (a plan holds the intent before that).

    ``subject`` is who asked (an API token's fingerprint, or a browser token's subject): the
    ``azp`` claim, which a request cannot choose. ``actor`` is whom the backend says it asked
    for (the ``sub`` claim; the subject when it named nobody). ``renew_until`` ends the
    intent's window: a token expires after minutes and is renewed (signer.uploads: refresh)
    until then. ``expires_at`` is the token's ``exp``, read back when it is verified.
    """

    id: str  # also stored with the object (x-amz-meta-intent), so complete knows it is ours
    subject: str
    bucket: str
    object_key: str
    profile: str
    content_type: str  # the exact Content-Type signed into the upload
    size: int | None
    size_max: int
    strategy: IntentStrategy
    required_headers: Mapping[str, str] = field(default_factory=dict)
    filename: str | None = None
    parts: Parts | None = None
    actor: str | None = None
    key_base: str | None = None
    ext: str | None = None
    shard: str | None = None
    tenant: str | None = None
    endpoint: Endpoint = "public"
    renew_until: int | None = None
    expires_at: int | None = None

    def claims(self) -> dict[str, object]:
        """The token's claims. Names are the wire format: never rename one. The first
        release's claims come first, in their order; those added since follow."""
        claims: dict[str, object] = {
            "sub": self.actor or self.subject,
            "jti": self.id,
            "bucket": self.bucket,
            "object_key": self.object_key,
            "profile": self.profile,
            "mime": self.content_type,
            "size": self.size,
            "size_max": self.size_max,
            "strategy": self.strategy,
            "headers_required": dict(self.required_headers),
            "filename": self.filename,
        }
        if self.strategy == "multipart":
            if self.parts is None:
                raise ValueError("a multipart intent is issued only once its upload exists")
            claims.update(
                part_size=self.parts.part_size,
                part_count=self.parts.part_count,
                upload_id=self.parts.upload_id,
            )
        claims.update(azp=self.subject, key_base=self.key_base, ext=self.ext, shard=self.shard)
        if self.tenant is not None:
            claims["tenant"] = self.tenant
        if self.endpoint != "public":
            claims["endpoint"] = self.endpoint
        if self.renew_until is not None:
            claims["renew_until"] = self.renew_until
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, object]) -> Intent:
        """The intent in verified ``claims``; SIGNATURE_INVALID when they do not make one."""
        strategy = _STRATEGIES.get(claims.get("strategy"))
        if strategy is None:
            raise _invalid("claim 'strategy' is not single, multipart or post")
        size = _optional(claims, "size", int)
        if size is None and strategy != "post":  # only a form upload may leave its size open
            raise _invalid(f"claim 'size' is missing or not an int for a {strategy} upload")
        parts = None
        if strategy == "multipart":
            parts = Parts(
                upload_id=_claim(claims, "upload_id", str),
                part_size=_claim(claims, "part_size", int),
                part_count=_claim(claims, "part_count", int),
            )
        sub = _claim(claims, "sub", str)
        # Tokens from before azp: sub was the subject, and no actor was named.
        subject = _optional(claims, "azp", str) or sub
        endpoint = claims.get("endpoint", "public")
        if endpoint not in ("public", "internal"):
            raise _invalid("claim 'endpoint' is not public or internal")
        exp = claims.get("exp")
        return cls(
            id=_claim(claims, "jti", str),
            subject=subject,
            actor=sub if sub != subject else None,
            bucket=_claim(claims, "bucket", str),
            object_key=_claim(claims, "object_key", str),
            profile=_claim(claims, "profile", str),
            content_type=_claim(claims, "mime", str),
            size=size,
            size_max=_claim(claims, "size_max", int),
            strategy=strategy,
            required_headers=_headers(claims.get("headers_required")),
            filename=_optional(claims, "filename", str),
            parts=parts,
            key_base=_optional(claims, "key_base", str),
            ext=_optional(claims, "ext", str),
            shard=_optional(claims, "shard", str),
            tenant=_optional(claims, "tenant", str),
            endpoint="internal" if endpoint == "internal" else "public",
            renew_until=_optional(claims, "renew_until", int),
            # verify() has checked that exp is a number; a hand-built claims map may lack it.
            expires_at=int(exp) if isinstance(exp, int | float) else None,
        )


def _optional(
    claims: Mapping[str, object],
    name: str,
    kind: type[T],
    invalid: Callable[[str], SignerError] = _invalid,
) -> T | None:
    value = claims.get(name)
    if value is None:
        return None
    # bool is an int to Python, never to a claim.
    if not isinstance(value, kind) or isinstance(value, bool):
        raise invalid(f"claim {name!r} is not a {kind.__name__}")
    return value


def _claim(
    claims: Mapping[str, object],
    name: str,
    kind: type[T],
    invalid: Callable[[str], SignerError] = _invalid,
) -> T:
    value = _optional(claims, name, kind, invalid)
    if value is None:
        raise invalid(f"claim {name!r} is missing")
    return value


def _headers(value: object) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise _invalid("claim 'headers_required' is not a map of header names to values")
    return dict(value)


def _grant_invalid(message: str) -> SignerError:
    return SignerError(ErrorCode.UNAUTHORIZED, f"browser token rejected: {message}", _GRANT_HINT)


@dataclass(frozen=True)
class BrowserGrant:
    """What a web page may upload with one browser token, as a backend holding an API token
    asked for it: uploads under one ``profile``, each at most ``size_max`` bytes, at most
    ``count`` of them, optionally only from the page at ``origin``.

    A browser token is a JWT of the same key set as intent tokens, so every replica verifies
    it, with ``kind: browser-upload``: an intent token is never a browser token (no ``kind``)
    and a browser token is never an intent (no ``strategy``). ``expires_at`` is the token's
    ``exp``, read back when it is verified (None before it is issued).
    """

    id: str  # jti: names the used-upload markers of this token in storage
    subject: str  # the fingerprint of the API token that asked for it
    bucket: str
    profile: str
    size_max: int
    count: int
    origin: str | None = None
    expires_at: int | None = None

    def claims(self) -> dict[str, object]:
        """The token's claims. Names are the wire format: do not rename them."""
        return {
            "kind": BROWSER_GRANT_KIND,
            "sub": self.subject,
            "jti": self.id,
            "bucket": self.bucket,
            "profile": self.profile,
            "size_max": self.size_max,
            "count": self.count,
            "origin": self.origin,
        }

    @classmethod
    def from_claims(cls, claims: Mapping[str, object]) -> BrowserGrant:
        """The grant in verified ``claims``; UNAUTHORIZED when they do not make one."""
        if claims.get("kind") != BROWSER_GRANT_KIND:
            raise _grant_invalid("it is not a browser upload token")
        exp = claims.get("exp")
        grant = cls(
            id=_claim(claims, "jti", str, _grant_invalid),
            subject=_claim(claims, "sub", str, _grant_invalid),
            bucket=_claim(claims, "bucket", str, _grant_invalid),
            profile=_claim(claims, "profile", str, _grant_invalid),
            size_max=_claim(claims, "size_max", int, _grant_invalid),
            count=_claim(claims, "count", int, _grant_invalid),
            origin=_optional(claims, "origin", str, _grant_invalid),
            # verify() has checked that exp is a number; a hand-built claims map may lack it.
            expires_at=int(exp) if isinstance(exp, int | float) else None,
        )
        if grant.size_max < 1 or grant.count < 1:
            raise _grant_invalid("claims 'size_max' and 'count' must be at least 1")
        return grant

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and _timestamp(now) >= self.expires_at


class TokenKeys:
    """A key set: ``active`` signs; every key verifies tokens naming it by ``kid``."""

    def __init__(self, keys: Sequence[_Key]) -> None:
        if not keys:
            raise ValueError("a key set needs at least one key")
        if keys[0].private_key is None:
            raise ValueError("the active (first) key must be a private key")
        self._active = keys[0]
        # What every token the active key signs shares, worked out once (see issue()).
        self._header = _header_segment(self._active)
        self._sign = _jws_signer(self._active)
        self._by_kid: dict[str, _Key] = {}
        for key in keys:
            if key.kid in self._by_kid:
                raise ValueError(f"key {key.kid} is given twice; list each key once")
            self._by_kid[key.kid] = key

    @classmethod
    def from_secrets(cls, secrets: Sequence[str], alg: str = "ES256") -> TokenKeys:
        """Keys derived from secrets (first = active). Each secret needs >= 32 characters."""
        if alg != "ES256":
            raise ValueError(f"alg {alg!r} is not supported for secrets; use ES256")
        if isinstance(secrets, str):
            raise ValueError("secrets must be a list of strings, not one string")
        keys = []
        for index, secret in enumerate(secrets, start=1):
            if not isinstance(secret, str) or len(secret) < MIN_SECRET_CHARS:
                raise ValueError(
                    f"secret #{index} must be at least {MIN_SECRET_CHARS} characters "
                    "(generate one with: openssl rand -hex 32)"
                )
            private = _derive_p256(secret)
            keys.append(_Key(_kid(private.public_key()), alg, private.public_key(), private))
        if not keys:
            raise ValueError("give at least one secret")
        return cls(keys)

    @classmethod
    def from_pem(cls, active_pem: bytes, previous_pems: Sequence[bytes] = ()) -> TokenKeys:
        """Keys from PEM: the active private key, and previous keys (private or public) that
        still verify. RSA → RS256, EC P-256 → ES256."""
        try:
            active = serialization.load_pem_private_key(active_pem, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"active key: not an unencrypted PEM private key ({exc})") from None
        keys = [
            _Key(
                _kid(active.public_key()),
                _alg_for(active, "active key"),
                active.public_key(),
                active,
            )
        ]
        for index, pem in enumerate(previous_pems, start=1):
            which = f"previous key #{index}"
            try:
                if b"PRIVATE KEY" in pem:
                    public = serialization.load_pem_private_key(pem, password=None).public_key()
                else:
                    public = serialization.load_pem_public_key(pem)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"{which}: not a PEM key ({exc})") from None
            keys.append(_Key(_kid(public), _alg_for(public, which), public))
        return cls(keys)

    @property
    def active_kid(self) -> str:
        return self._active.kid

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    @property
    def algorithms(self) -> tuple[str, ...]:
        return tuple(sorted({key.alg for key in self._by_kid.values()}))

    def issue_intent(
        self, intent: Intent, *, now: datetime, ttl: int, issuer: str, audience: str
    ) -> str:
        """A token carrying ``intent`` (see ``issue``)."""
        return self.issue(intent.claims(), now=now, ttl=ttl, issuer=issuer, audience=audience)

    def verify_intent(
        self,
        token: str,
        *,
        now: datetime,
        issuer: str,
        audience: str,
        allow_expired: bool = False,
    ) -> Intent:
        """The intent ``token`` carries if it is ours and unexpired (see ``verify``); otherwise
        SignerError(SIGNATURE_INVALID), also when its claims do not make an intent.

        ``allow_expired`` skips only the ``exp`` check; the intent says when it expired
        (``expires_at``) and until when it may be renewed (``renew_until``): the caller
        decides."""
        claims = self._verify(
            token,
            now=now,
            issuer=issuer,
            audience=audience,
            object_key=None,
            check_expiry=not allow_expired,
            invalid=_invalid,
        )
        return Intent.from_claims(claims)

    def with_active(self, kid: str) -> TokenKeys:
        """The same key set with key ``kid`` signing (rotation: a new key is first added
        everywhere, then made active); ValueError naming the kids that can sign when ``kid``
        is not one of them."""
        key = self._by_kid.get(kid)
        if key is None or key.private_key is None:
            which = "not a key of the set" if key is None else "a public key (it cannot sign)"
            signing = [k for k, v in self._by_kid.items() if v.private_key is not None]
            raise ValueError(f"kid {kid!r} is {which}; keys that can sign: {', '.join(signing)}")
        return TokenKeys([key, *(k for k in self._by_kid.values() if k.kid != kid)])

    @property
    def active_alg(self) -> str:
        return self._active.alg

    def issue_grant(
        self, grant: BrowserGrant, *, now: datetime, ttl: int, issuer: str, audience: str
    ) -> str:
        """A browser token carrying ``grant`` (see ``issue``)."""
        return self.issue(grant.claims(), now=now, ttl=ttl, issuer=issuer, audience=audience)

    def verify_grant(
        self,
        token: str,
        *,
        now: datetime,
        issuer: str,
        audience: str,
        allow_expired: bool = False,
    ) -> BrowserGrant:
        """The grant a browser token carries if it is ours (every check of ``verify``);
        otherwise SignerError(UNAUTHORIZED) naming the check that failed.

        ``allow_expired`` skips only the ``exp`` check: a browser token's lifetime bounds when
        uploads may *start*, and an upload started in time finishes on its own intent token,
        which the caller checks. The grant says when it expired (``expired(now)``)."""
        claims = self._verify(
            token,
            now=now,
            issuer=issuer,
            audience=audience,
            object_key=None,
            check_expiry=not allow_expired,
            invalid=_grant_invalid,
        )
        return BrowserGrant.from_claims(claims)

    def issue(
        self, claims: Mapping[str, object], *, now: datetime, ttl: int, issuer: str, audience: str
    ) -> str:
        """A token carrying ``claims`` plus iat, exp (iat + ttl), iss and aud; ``kid`` header."""
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        if not _RESERVED_CLAIMS.isdisjoint(claims):
            clash = sorted(_RESERVED_CLAIMS.intersection(claims))
            raise ValueError(f"claims {', '.join(clash)} are set by issue(); do not pass them")
        if not isinstance(issuer, str):
            raise TypeError("Issuer (iss) must be a string.")  # as jwt.encode says it
        iat = _timestamp(now)
        payload = {
            **claims,
            "iat": iat,
            "exp": iat + ttl,
            "iss": issuer,
            "aud": audience,
            "kid": self._active.kid,
        }
        # The compact JWS jwt.encode makes (the same header, payload JSON and signature
        # encoding), without what jwt.encode redoes on every call: checking and serialising the
        # header, copying the payload, looking up the algorithm and the key, making the hash
        # objects.
        # JWS = BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
        body = _b64url(_COMPACT_JSON.encode(payload).encode("utf-8"))
        signing_input = self._header + b"." + body
        signature = self._sign(signing_input)
        return (signing_input + b"." + _b64url(signature)).decode("ascii")

    def verify(
        self,
        token: str,
        *,
        now: datetime,
        issuer: str,
        audience: str,
        object_key: str | None = None,
    ) -> dict[str, Any]:
        """The token's claims if it is ours, unexpired and for ``object_key``; otherwise
        SignerError(SIGNATURE_INVALID) naming the check that failed."""
        return self._verify(
            token,
            now=now,
            issuer=issuer,
            audience=audience,
            object_key=object_key,
            check_expiry=True,
            invalid=_invalid,
        )

    def _verify(
        self,
        token: str,
        *,
        now: datetime,
        issuer: str,
        audience: str,
        object_key: str | None,
        check_expiry: bool,
        invalid: Callable[[str], SignerError],
    ) -> dict[str, Any]:
        current = _timestamp(now)
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
            raise invalid("no token, or not a compact JWT string")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise invalid(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise invalid(f"unknown key id {kid!r} (signed by a key no longer configured?)")
        if alg != key.alg:
            raise invalid(f"algorithm {alg!r} does not match key {kid}")
        claims = self._decode(token, key, issuer=issuer, audience=audience, invalid=invalid)
        if claims.get("kid", kid) != kid:  # tokens from before the claim carry none
            raise invalid("claim 'kid' does not match the key that signed it")
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
                raise invalid(f"claim {name!r} is not a timestamp")
        if check_expiry and current >= claims["exp"]:
            expired = datetime.fromtimestamp(claims["exp"], UTC).isoformat()
            raise invalid(f"expired at {expired}")
        if claims["iat"] > current + _FUTURE_IAT_LEEWAY:
            raise invalid("issued in the future")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or current < nbf):
            raise invalid("not valid yet (nbf)")
        if object_key is not None and claims.get("object_key") != object_key:
            raise invalid("it was issued for a different object_key")
        return claims

    @staticmethod
    def _decode(
        token: str,
        key: _Key,
        *,
        issuer: str,
        audience: str,
        invalid: Callable[[str], SignerError] = _invalid,
    ) -> dict[str, Any]:
        try:
            # The clock is ours to pass in, so PyJWT's own time checks (which read the system
            # clock) are off and done by verify(); the signature check always stays on.
            return jwt.decode(
                token,
                key.public_key,
                algorithms=[key.alg],
                audience=audience,
                issuer=issuer,
                options={
                    "verify_signature": True,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": list(REQUIRED_CLAIMS),
                },
            )
        except jwt.InvalidSignatureError:
            raise invalid("signature does not match (tampered or signed elsewhere)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise invalid(f"missing claim {exc.claim!r}") from None
        except jwt.InvalidAudienceError:
            raise invalid(f"wrong audience (expected {audience!r})") from None
        except jwt.InvalidIssuerError:
            raise invalid(f"wrong issuer (expected {issuer!r})") from None
        except jwt.DecodeError:
            raise invalid("malformed token") from None
        except jwt.PyJWTError as exc:
            raise invalid(f"invalid token ({exc})") from None
