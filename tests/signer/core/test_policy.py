"""Profiles, policies and the upload checks built on them (the YAML file: test_policy_file)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import (
    DEFAULT_POLICY,
    GiB,
    MiB,
    Policy,
    PolicyError,
    Profile,
    TiB,
    check_upload,
    choose_strategy,
    clamp_ttl,
    format_size,
    normalize_content_type,
    part_length,
    plan_parts,
)

PNG = Profile(name="img", mime_types={"image/png": "png", "image/jpeg": "jpg"}, size_max=10 * MiB)


def _raises(code: ErrorCode, fn, *args, **kwargs) -> SignerError:
    with pytest.raises(SignerError) as info:
        fn(*args, **kwargs)
    assert info.value.code is code
    return info.value


# --- Profile / Policy objects ----------------------------------------------------------------


def test_profiles_are_immutable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PNG.size_max = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        PNG.mime_types["text/html"] = "html"  # type: ignore[index]


def test_profile_validates_when_built_in_code() -> None:
    with pytest.raises(PolicyError) as info:
        Profile(name="x", mime_types={"image/png": "png"}, size_max=0)
    assert info.value.field == "size_max"
    with pytest.raises(PolicyError, match="integer"):
        Profile(name="x", mime_types={"image/png": "png"}, size_max=1.5)  # type: ignore[arg-type]


def test_policy_needs_matching_profile_names() -> None:
    with pytest.raises(PolicyError, match="named the same"):
        Policy(profiles={"other": PNG}, default_profile="other")
    with pytest.raises(PolicyError, match="at least one"):
        Policy(profiles={})


def test_unknown_profile_names_the_available_ones() -> None:
    video = Profile(name="video", mime_types={"video/mp4": "mp4"}, size_max=GiB)
    images = dataclasses.replace(PNG, name="images")
    policy = Policy(profiles={"images": images, "video": video}, default_profile="images")
    error = _raises(ErrorCode.BAD_REQUEST, policy.profile, "avatars")
    assert "avatars" in error.message
    assert "images, video" in error.hint


def test_default_policy_allows_common_media_but_not_svg() -> None:
    profile = DEFAULT_POLICY.profile(None)
    assert profile.name == "default"
    assert profile.size_max == 5 * GiB
    for mime, ext in {
        "image/png": "png",
        "image/jpeg": "jpg",
        "image/gif": "gif",
        "image/webp": "webp",
        "image/avif": "avif",
        "application/pdf": "pdf",
        "text/plain": "txt",
        "video/mp4": "mp4",
        "video/quicktime": "mov",
        "video/webm": "webm",
    }.items():
        assert check_upload(profile, content_type=mime, size_bytes=1) == ext
    _raises(
        ErrorCode.MIME_NOT_ALLOWED,
        check_upload,
        profile,
        content_type="image/svg+xml",
        size_bytes=1,
    )
    _raises(
        ErrorCode.MIME_NOT_ALLOWED, check_upload, profile, content_type="text/html", size_bytes=1
    )


# --- check_upload ----------------------------------------------------------------------------


def test_check_upload_returns_the_allowlisted_extension() -> None:
    assert check_upload(PNG, content_type="image/jpeg", size_bytes=0) == "jpg"
    assert check_upload(PNG, content_type="IMAGE/PNG; charset=binary", size_bytes=10) == "png"
    assert check_upload(PNG, content_type="image/jpeg", size_bytes=10, ext=".JPG") == "jpg"
    assert check_upload(PNG, content_type="image/jpeg", size_bytes=10, ext="jpg") == "jpg"
    assert check_upload(PNG, content_type="image/png", size_bytes=10 * MiB) == "png"


def test_check_upload_mime_not_allowed_lists_allowed_types() -> None:
    error = _raises(
        ErrorCode.MIME_NOT_ALLOWED, check_upload, PNG, content_type="text/html", size_bytes=1
    )
    assert error.hint == "allowed types: image/jpeg, image/png"


def test_check_upload_too_large_says_the_limit() -> None:
    error = _raises(
        ErrorCode.SIZE_TOO_LARGE,
        check_upload,
        PNG,
        content_type="image/png",
        size_bytes=10 * MiB + 1,
    )
    assert "10 MiB" in error.hint


@pytest.mark.parametrize("size", [-1, 1.5, "10", True, None])
def test_check_upload_refuses_a_bad_size(size: object) -> None:
    _raises(ErrorCode.BAD_REQUEST, check_upload, PNG, content_type="image/png", size_bytes=size)


@pytest.mark.parametrize("ext", ["jpeg", "png.exe", "../png", 5])
def test_check_upload_refuses_an_extension_that_does_not_match(ext: object) -> None:
    error = _raises(
        ErrorCode.BAD_REQUEST, check_upload, PNG, content_type="image/jpeg", size_bytes=1, ext=ext
    )
    assert "'jpg'" in error.hint


@pytest.mark.parametrize(
    "content_type",
    [
        "",
        "   ",
        "image",
        "image/png\r\nX-Evil: 1",
        "image/png; charset",
        "im age/png",
        "image/pñg",
        'image/png; a="b',
        "x/" + "y" * 300,
        None,
    ],
)
def test_malformed_content_types_are_bad_requests(content_type: object) -> None:
    _raises(ErrorCode.BAD_REQUEST, check_upload, PNG, content_type=content_type, size_bytes=1)


def test_normalize_content_type_keeps_only_the_media_type() -> None:
    assert normalize_content_type('Text/Plain; Charset="UTF-8" ') == "text/plain"
    assert normalize_content_type("application/vnd.api+json") == "application/vnd.api+json"


# --- clamp_ttl -------------------------------------------------------------------------------


def test_clamp_ttl() -> None:
    assert clamp_ttl(None, default=900, ceiling=3600) == 900
    assert clamp_ttl(60, default=900, ceiling=3600) == 60
    assert clamp_ttl(10_000, default=900, ceiling=3600) == 3600
    assert clamp_ttl(None, default=9000, ceiling=3600) == 3600
    assert clamp_ttl(10**9, default=1, ceiling=10**9) == 604800


@pytest.mark.parametrize("requested", [0, -1, 1.5, "60", True])
def test_clamp_ttl_refuses_non_positive_or_non_int(requested: object) -> None:
    _raises(ErrorCode.BAD_REQUEST, clamp_ttl, requested, default=900, ceiling=3600)


# --- choose_strategy -------------------------------------------------------------------------


def test_choose_strategy_auto_switches_at_the_threshold() -> None:
    profile = dataclasses.replace(PNG, size_max=10 * GiB)
    threshold = profile.multipart_threshold
    assert choose_strategy(profile, threshold - 1, "auto") == "single"
    assert choose_strategy(profile, threshold, "auto") == "multipart"
    assert choose_strategy(profile, 0, "auto") == "single"
    assert choose_strategy(profile, 1, "force") == "multipart"
    assert choose_strategy(profile, 5 * GiB, "off") == "single"


def test_choose_strategy_refusals() -> None:
    error = _raises(ErrorCode.BAD_REQUEST, choose_strategy, PNG, 5 * GiB + 1, "off")
    assert "multipart=auto" in error.hint
    error = _raises(ErrorCode.BAD_REQUEST, choose_strategy, PNG, 10, "sometimes")
    assert "auto, force or off" in error.hint
    _raises(ErrorCode.BAD_REQUEST, choose_strategy, PNG, 0, "force")
    _raises(ErrorCode.BAD_REQUEST, choose_strategy, PNG, -1, "auto")


# --- plan_parts / part_length ----------------------------------------------------------------


def test_plan_parts_uses_the_profile_part_size_when_it_fits() -> None:
    assert plan_parts(20 * MiB, 8 * MiB) == (8 * MiB, 3)
    assert plan_parts(1, 8 * MiB) == (8 * MiB, 1)
    assert plan_parts(16 * MiB, 8 * MiB) == (8 * MiB, 2)


def test_plan_parts_grows_to_a_mib_multiple_above_10000_parts() -> None:
    part, count = plan_parts(5 * TiB, 8 * MiB)
    assert part % MiB == 0
    assert count <= 10_000
    assert part == 525 * MiB  # ceil(5 TiB / 10,000) = 524.3 MiB, rounded up to whole MiB


def test_plan_parts_refusals() -> None:
    _raises(ErrorCode.BAD_REQUEST, plan_parts, 0, 8 * MiB)
    _raises(ErrorCode.BAD_REQUEST, plan_parts, 5 * TiB + 1, 8 * MiB)
    with pytest.raises(ValueError):
        plan_parts(10, 1 * MiB)


@given(
    size=st.integers(min_value=1, max_value=5 * TiB),
    part=st.integers(min_value=5 * MiB, max_value=5 * GiB),
)
def test_plan_parts_always_gives_a_valid_s3_upload(size: int, part: int) -> None:
    part_size, count = plan_parts(size, part)
    assert 1 <= count <= 10_000
    assert 5 * MiB <= part_size <= 5 * GiB
    assert part_size >= part
    lengths = [part_length(size, part_size, n) for n in (1, count)]
    assert (count - 1) * part_size + lengths[-1] == size
    assert all(0 < length <= part_size for length in lengths)
    if count > 1:
        assert lengths[0] == part_size


def test_part_length() -> None:
    assert part_length(20 * MiB, 8 * MiB, 1) == 8 * MiB
    assert part_length(20 * MiB, 8 * MiB, 3) == 4 * MiB
    assert part_length(16 * MiB, 8 * MiB, 2) == 8 * MiB
    for bad in (0, 4, -1, True):
        _raises(ErrorCode.BAD_REQUEST, part_length, 20 * MiB, 8 * MiB, bad)


def test_format_size() -> None:
    assert format_size(5 * GiB) == "5 GiB"
    assert format_size(15 * MiB) == "15 MiB"
    assert format_size(1000) == "1000 bytes"
