"""What a download serves (signer.core.policy): the Content-Type a profile lets storage serve,
and the neutral values that replace headers an uploader may have stored."""

from __future__ import annotations

from signer.core.policy import (
    FALLBACK_CONTENT_TYPE,
    NEUTRAL_RESPONSE_HEADERS,
    MiB,
    Profile,
    neutral_overrides,
    served_content_type,
)

TEXT = Profile(name="t", mime_types={"text/plain": "txt", "image/png": "png"}, size_max=MiB)


def test_an_allowed_type_is_served_as_stored() -> None:
    assert served_content_type(TEXT, "text/plain") == "text/plain"
    assert served_content_type(TEXT, "Text/Plain; charset=utf-8") == "Text/Plain; charset=utf-8"
    assert served_content_type(TEXT, "image/png") == "image/png"


def test_any_other_type_is_served_as_bytes() -> None:
    for stored in ("text/html", "image/svg+xml", "", "not a type", "text/plain\r\nX: 1"):
        assert served_content_type(TEXT, stored) == FALLBACK_CONTENT_TYPE


def test_each_stored_header_is_pinned_to_a_neutral_value() -> None:
    stored = {
        "cache-control": "public, max-age=31536000",
        "content-encoding": "gzip",
        "content-language": "de",
        "expires": "Thu, 01 Dec 2094 16:00:00 GMT",
        # The signer pins these on every URL itself; not this function's business.
        "content-disposition": "attachment",
        "content-type": "text/html",
    }
    assert neutral_overrides(stored) == {
        "response-cache-control": "private",
        "response-content-encoding": "identity",
        "response-content-language": "und",
        "response-expires": "0",
    }
    assert neutral_overrides({}) == {}
    assert neutral_overrides({"expires": "x"}) == {"response-expires": "0"}
    assert set(NEUTRAL_RESPONSE_HEADERS) == {
        "cache-control",
        "content-encoding",
        "content-language",
        "expires",
    }
