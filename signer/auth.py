"""Bearer-token authentication of the HTTP API.

Several tokens are valid at once so they can be rotated without downtime (add the new one,
move clients, remove the old one). The check compares SHA-256 digests of the presented token
with every configured one using ``hmac.compare_digest`` and never stops early, so the answer
takes the same time whichever token (if any) matched and however long the guess was.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

from signer.core.errors import ErrorCode, SignerError

_HINT = "send the header Authorization: Bearer <one of SIGNER_API_TOKENS>"
_JWT_HINT = (
    "this is a JWT, not an API token: a browser token works only on the Uppy routes "
    "(/uppy/<browser token>/s3/...), an intent token only inside a request body; " + _HINT
)


def fingerprint(token: str) -> str:
    """A stable, non-secret name for a token: for rate limits, intent tokens' ``sub``, logs."""
    return "api-" + hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


class ApiTokens:
    def __init__(self, tokens: Sequence[str]) -> None:
        if not tokens:
            raise ValueError("at least one API token is needed")
        self._digests = [
            (hashlib.sha256(t.encode("utf-8")).digest(), fingerprint(t)) for t in tokens
        ]

    def authenticate(self, authorization: str | None) -> str:
        """The fingerprint of the token in an ``Authorization`` header; else UNAUTHORIZED."""
        if not authorization:
            raise SignerError(ErrorCode.UNAUTHORIZED, "missing Authorization header", hint=_HINT)
        scheme, _, presented = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise SignerError(
                ErrorCode.UNAUTHORIZED, "the Authorization header is not a Bearer token", hint=_HINT
            )
        digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogateescape")).digest()
        matched: str | None = None
        for known, name in self._digests:
            if hmac.compare_digest(digest, known):
                matched = name
        if matched is None:
            # Only the presented token's shape decides the hint, so it reveals nothing about
            # the configured ones (API tokens are random strings, never three dotted parts).
            looks_jwt = presented.strip().startswith("eyJ") and presented.count(".") == 2
            hint = _JWT_HINT if looks_jwt else _HINT
            raise SignerError(ErrorCode.UNAUTHORIZED, "the bearer token is not valid", hint=hint)
        return matched
