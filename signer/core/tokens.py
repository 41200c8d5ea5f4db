"""Intent tokens: short-lived JWTs binding an upload's approved key, type, size and headers.

The signer issues one with each upload intent and verifies it when the client comes back
(part URLs, completion). Keys form a set: the active key signs, every key verifies, chosen by
the token's ``kid`` header, so rotating means putting the new secret first and keeping the old
one until its tokens have expired. Accepted algorithms come from the key set, never from the
token: ``none`` and HMAC (the classic "HS256 signed with the public key" forgery) are refused.

Secrets become P-256 keys through HKDF-SHA256, so every replica given the same environment
variable (Render's ``generateValue`` can make one) has the same keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from jwt.algorithms import get_default_algorithms

from signer.core.errors import ErrorCode, SignerError

MIN_SECRET_CHARS = 32
MIN_RSA_BITS = 2048
REQUIRED_CLAIMS = ("exp", "iat", "iss", "aud")
# Claims issue() sets itself; taking them from the caller would let one override another.
_RESERVED_CLAIMS = frozenset({"exp", "iat", "iss", "aud", "nbf"})
_HKDF_SALT = b"minio-stack/signer/intent-token"
_HKDF_INFO = b"ES256 P-256 private key v1"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
# Replicas' clocks differ a little; a token issued further in the future than this is not ours.
_FUTURE_IAT_LEEWAY = 60
_MAX_TOKEN_CHARS = 16 * 1024
_HINT = "request a new upload intent"


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


def _header_segment(key: _Key) -> bytes:
    """The encoded JOSE header of the tokens ``key`` signs, as ``jwt.encode`` writes it."""
    header = {"typ": "JWT", "alg": key.alg, "kid": key.kid}
    return _b64url(json.dumps(header, separators=(",", ":"), sort_keys=True).encode("utf-8"))


def _invalid(message: str) -> SignerError:
    return SignerError(ErrorCode.SIGNATURE_INVALID, f"intent token rejected: {message}", _HINT)


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
        self._signer = get_default_algorithms()[self._active.alg]
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

    def issue(self, claims: Mapping, *, now: datetime, ttl: int, issuer: str, audience: str) -> str:
        """A token carrying ``claims`` plus iat, exp (iat + ttl), iss and aud; ``kid`` header."""
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError(f"ttl must be a positive number of seconds, not {ttl!r}")
        clash = sorted(_RESERVED_CLAIMS & set(claims))
        if clash:
            raise ValueError(f"claims {', '.join(clash)} are set by issue(); do not pass them")
        if not isinstance(issuer, str):
            raise TypeError("Issuer (iss) must be a string.")  # as jwt.encode says it
        iat = _timestamp(now)
        payload = {**claims, "iat": iat, "exp": iat + ttl, "iss": issuer, "aud": audience}
        # The compact JWS jwt.encode makes (the same header and payload JSON, signed by PyJWT's
        # own algorithm object), without what jwt.encode redoes on every call: checking and
        # serialising the header, copying the payload, looking up the algorithm and the key.
        # That halves the cost beyond the ECDSA signature itself.
        # JWS = BASE64URL(header) "." BASE64URL(payload) "." BASE64URL(signature)
        body = _b64url(json.dumps(payload, separators=(",", ":")).encode("utf-8"))
        signing_input = self._header + b"." + body
        signature = self._signer.sign(signing_input, self._active.private_key)
        return (signing_input + b"." + _b64url(signature)).decode("ascii")

    def verify(
        self,
        token: str,
        *,
        now: datetime,
        issuer: str,
        audience: str,
        object_key: str | None = None,
    ) -> dict:
        """The token's claims if it is ours, unexpired and for ``object_key``; otherwise
        SignerError(SIGNATURE_INVALID) naming the check that failed."""
        current = _timestamp(now)
        if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
            raise _invalid("no token, or not a compact JWT string")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed token") from None
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise _invalid(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        key = self._by_kid.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise _invalid(f"unknown key id {kid!r} (signed by a key no longer configured?)")
        if alg != key.alg:
            raise _invalid(f"algorithm {alg!r} does not match key {kid}")
        claims = self._decode(token, key, issuer=issuer, audience=audience)
        for name in ("exp", "iat"):
            if isinstance(claims[name], bool) or not isinstance(claims[name], int | float):
                raise _invalid(f"claim {name!r} is not a timestamp")
        if current >= claims["exp"]:
            expired = datetime.fromtimestamp(claims["exp"], UTC).isoformat()
            raise _invalid(f"expired at {expired}")
        if claims["iat"] > current + _FUTURE_IAT_LEEWAY:
            raise _invalid("issued in the future")
        nbf = claims.get("nbf")
        if nbf is not None and (not isinstance(nbf, int | float) or current < nbf):
            raise _invalid("not valid yet (nbf)")
        if object_key is not None and claims.get("object_key") != object_key:
            raise _invalid("it was issued for a different object_key")
        return claims

    @staticmethod
    def _decode(token: str, key: _Key, *, issuer: str, audience: str) -> dict:
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
            raise _invalid("signature does not match (tampered or signed elsewhere)") from None
        except jwt.MissingRequiredClaimError as exc:
            raise _invalid(f"missing claim {exc.claim!r}") from None
        except jwt.InvalidAudienceError:
            raise _invalid(f"wrong audience (expected {audience!r})") from None
        except jwt.InvalidIssuerError:
            raise _invalid(f"wrong issuer (expected {issuer!r})") from None
        except jwt.DecodeError:
            raise _invalid("malformed token") from None
        except jwt.PyJWTError as exc:
            raise _invalid(f"invalid token ({exc})") from None
