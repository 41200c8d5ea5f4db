"""Bearer tokens: several valid at once (rotation), compared in constant time."""

from __future__ import annotations

import pytest

from signer.auth import ApiTokens, fingerprint
from signer.core.errors import ErrorCode, SignerError

OLD, NEW = "old-token-0123456789", "new-token-9876543210"


def test_every_configured_token_authenticates_as_itself() -> None:
    tokens = ApiTokens([OLD, NEW])
    assert tokens.authenticate(f"Bearer {OLD}") == fingerprint(OLD)
    assert tokens.authenticate(f"bearer  {NEW} ") == fingerprint(NEW)
    assert fingerprint(OLD) != fingerprint(NEW)
    assert OLD not in fingerprint(OLD)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "missing"),
        ("", "missing"),
        (f"Basic {OLD}", "not a Bearer"),
        ("Bearer", "not a Bearer"),
        (OLD, "not a Bearer"),
        ("Bearer old-token-012345678", "not valid"),
        (f"Bearer {OLD}x", "not valid"),
        ("Bearer \udcff", "not valid"),
    ],
)
def test_anything_else_is_unauthorized(header: str | None, expected: str) -> None:
    with pytest.raises(SignerError) as caught:
        ApiTokens([OLD, NEW]).authenticate(header)
    assert caught.value.code is ErrorCode.UNAUTHORIZED
    assert expected in caught.value.message
    assert OLD not in str(caught.value)


def test_at_least_one_token_is_needed() -> None:
    with pytest.raises(ValueError):
        ApiTokens([])
