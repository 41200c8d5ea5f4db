"""SignerError's JSON shape and the stable error codes."""

from __future__ import annotations

import pytest

from signer.core.errors import ErrorCode, SignerError


def test_codes_are_the_documented_strings() -> None:
    assert {code.value for code in ErrorCode} == {
        "unauthorized",
        "bad_request",
        "mime_not_allowed",
        "size_too_large",
        "signature_invalid",
        "not_found",
        "conflict",
        "storage_denied",
        "rate_limited",
    }
    assert ErrorCode.RATE_LIMITED == "rate_limited"


def test_to_dict_has_only_code_and_message_when_nothing_else_is_set() -> None:
    error = SignerError(ErrorCode.NOT_FOUND, "no such object")
    assert error.to_dict() == {"code": "not_found", "message": "no such object"}
    assert error.hint is None
    assert error.retry_after_seconds is None


def test_to_dict_includes_hint_and_retry_after_when_set() -> None:
    error = SignerError(ErrorCode.RATE_LIMITED, "slow down", hint="wait", retry_after_seconds=3)
    assert error.to_dict() == {
        "code": "rate_limited",
        "message": "slow down",
        "hint": "wait",
        "retry_after_seconds": 3,
    }
    assert error.code is ErrorCode.RATE_LIMITED
    assert error.message == "slow down"


def test_a_plain_string_code_becomes_the_enum() -> None:
    assert SignerError("conflict", "taken").code is ErrorCode.CONFLICT  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SignerError("teapot", "no")  # type: ignore[arg-type]


def test_str_is_one_line_with_the_hint() -> None:
    assert str(SignerError(ErrorCode.BAD_REQUEST, "bad size", hint="send bytes")) == (
        "bad size (send bytes)"
    )
    assert str(SignerError(ErrorCode.BAD_REQUEST, "bad size")) == "bad size"


def test_is_an_exception() -> None:
    with pytest.raises(SignerError) as info:
        raise SignerError(ErrorCode.UNAUTHORIZED, "who are you")
    assert info.value.code == "unauthorized"
