"""The signer's one error type: a stable code plus a message and hint a client can show.

The HTTP layer maps each ``ErrorCode`` to a status in one table and answers every error with
``SignerError.to_dict()``: ``{code, message, hint?, retry_after_seconds?}``.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.StrEnum):
    UNAUTHORIZED = "unauthorized"
    BAD_REQUEST = "bad_request"
    MIME_NOT_ALLOWED = "mime_not_allowed"
    SIZE_TOO_LARGE = "size_too_large"
    SIGNATURE_INVALID = "signature_invalid"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    STORAGE_DENIED = "storage_denied"
    RATE_LIMITED = "rate_limited"


class SignerError(Exception):
    """A refusal the client can act on; ``hint`` says how to fix the request."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        hint: str | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.code = ErrorCode(code)
        self.message = message
        self.hint = hint
        self.retry_after_seconds = retry_after_seconds

    def to_dict(self) -> dict[str, str | int]:
        body: dict[str, str | int] = {"code": self.code.value, "message": self.message}
        if self.hint is not None:
            body["hint"] = self.hint
        if self.retry_after_seconds is not None:
            body["retry_after_seconds"] = self.retry_after_seconds
        return body

    def __repr__(self) -> str:
        return f"SignerError({self.code.value!r}, {self.message!r}, hint={self.hint!r})"

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
