"""Profiles, policies and the upload checks built on them (the YAML file: test_policy_file)."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.core.errors import ErrorCode, SignerError
from signer.core.policy import (
    DEFAULT_POLICY,
    KNOWN_EXTENSIONS,
    GiB,
    MiB,
    Policy,
    PolicyError,
    Profile,
    TiB,
    check_kind,
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


# --- the spec's kinds (allowed_mimes), token_ttl, sharding, tenants ---------------------------


def test_kinds_add_their_types_with_known_extensions() -> None:
    profile = Profile(
        name="media",
        mime_types={"text/plain": "txt"},
        size_max=MiB,
        kinds={"image": ["image/PNG"], "video": ["video/quicktime"]},
    )
    assert dict(profile.mime_types) == {
        "text/plain": "txt",
        "image/png": "png",
        "video/quicktime": "mov",
    }
    assert dict(profile.kinds) == {"image": ("image/png",), "video": ("video/quicktime",)}
    only_kinds = Profile(name="k", mime_types={}, size_max=MiB, kinds={"image": ["image/jpeg"]})
    assert dict(only_kinds.mime_types) == {"image/jpeg": "jpg"}
    assert "image/svg+xml" not in KNOWN_EXTENSIONS  # script from storage's origin
    mapped = Profile(
        name="svg",
        mime_types={"image/svg+xml": "svg"},
        size_max=MiB,
        kinds={"image": ["image/svg+xml"]},
    )
    assert mapped.mime_types["image/svg+xml"] == "svg"


@pytest.mark.parametrize(
    ("kinds", "field", "words"),
    [
        ({"image": ["image/svg+xml"]}, "kinds.image", "no known extension"),
        ({"Image": ["image/png"]}, "kinds", "not a kind"),
        ({"image": "image/png"}, "kinds.image", "list"),
        ({"image": []}, "kinds.image", "list"),
        ({"image": ["png"]}, "kinds.image", "not a MIME type"),
        (["image"], "kinds", "must map"),
    ],
)
def test_bad_kinds_name_the_field(kinds: object, field: str, words: str) -> None:
    with pytest.raises(PolicyError) as info:
        Profile(name="k", mime_types={"text/plain": "txt"}, size_max=MiB, kinds=kinds)  # type: ignore[arg-type]
    assert info.value.field == field and words in info.value.reason


def test_kind_must_match_the_type() -> None:
    table = Profile(
        name="media",
        mime_types={"text/plain": "txt"},
        size_max=MiB,
        kinds={"image": ["image/png"], "video": ["video/mp4"]},
    )
    assert check_upload(table, content_type="image/png", size_bytes=1, kind="image") == "png"
    _raises(ErrorCode.MIME_NOT_ALLOWED, check_kind, table, "video", "image/png")
    _raises(ErrorCode.MIME_NOT_ALLOWED, check_kind, table, "image", "text/plain")
    assert "its kinds: image, video" in (
        _raises(ErrorCode.BAD_REQUEST, check_kind, table, "audio", "image/png").hint or ""
    )
    # Without a table: the top-level type names the kind.
    check_kind(PNG, "image", "image/png")
    error = _raises(ErrorCode.MIME_NOT_ALLOWED, check_kind, PNG, "video", "image/png")
    assert error.hint == "video types: none"
    for bad in ("Video", "", "v" * 33, 3):
        _raises(ErrorCode.BAD_REQUEST, check_kind, PNG, bad, "image/png")
    # A type outside the allowlist is refused as such, whatever the kind.
    _raises(
        ErrorCode.MIME_NOT_ALLOWED,
        check_upload,
        PNG,
        content_type="image/gif",
        size_bytes=1,
        kind="image",
    )


def test_token_ttl_and_sharding_are_checked() -> None:
    assert PNG.token_ttl == 900 and PNG.enable_sharding is False
    assert dataclasses.replace(PNG, token_ttl=60).token_ttl == 60
    for ttl, words in ((59, "outside 60s..86400s"), (86401, "outside"), ("15m", "integer")):
        with pytest.raises(PolicyError, match=words):
            dataclasses.replace(PNG, token_ttl=ttl)
    with pytest.raises(PolicyError, match="true or false"):
        dataclasses.replace(PNG, enable_sharding="yes")


def test_tenants_limit_api_tokens() -> None:
    policy = Policy(
        profiles={"img": PNG},
        default_profile="img",
        tenants={"api-0123456789ab": ["acme", "globex"], "api-ba9876543210": ["*"]},
    )
    policy.check_tenant("api-0123456789ab", "acme")
    policy.check_tenant("api-ba9876543210", "anyone")
    policy.check_tenant("api-ffffffffffff", None)  # naming no tenant is always fine
    error = _raises(ErrorCode.BAD_REQUEST, policy.check_tenant, "api-0123456789ab", "initech")
    assert error.hint == "its tenants: acme, globex"
    unlisted = _raises(ErrorCode.BAD_REQUEST, policy.check_tenant, "api-ffffffffffff", "acme")
    assert "may use no tenant" in (unlisted.hint or "")
    Policy(profiles={"img": PNG}, default_profile="img").check_tenant("api-ffffffffffff", "acme")
    for tenants, words in (
        ({"my-api-token-itself": ["acme"]}, "not an API token fingerprint"),
        ({"api-0123456789ab": "acme"}, "must be a list"),
        ({"api-0123456789ab": ["a/b"]}, "not a tenant id"),
        (["acme"], "must map"),
    ):
        with pytest.raises(PolicyError, match=words):
            Policy(profiles={"img": PNG}, default_profile="img", tenants=tenants)  # type: ignore[arg-type]
