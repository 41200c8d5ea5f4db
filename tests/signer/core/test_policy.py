"""Profiles, the YAML policy loader and the upload checks built on them."""

from __future__ import annotations

import dataclasses
import textwrap

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
    load_policy,
    normalize_content_type,
    part_length,
    plan_parts,
)

PNG = Profile(name="img", mime_types={"image/png": "png", "image/jpeg": "jpg"}, size_max=10 * MiB)

FULL = textwrap.dedent(
    """
    default_profile: images
    profiles:
      images:
        mime_types:
          image/png: png
          Image/JPEG: JPG
        size_max: 20MiB
        multipart_threshold: 16MiB
        part_size: 6MiB
        put_ttl: 10m
        get_ttl: 1h
        ttl_max: 2d
        key_template: "raw/{shard}/{key_base}.{ext}"
        prefix: media
        required_headers:
          X-Amz-Server-Side-Encryption: AES256
      video:
        mime_types: {video/mp4: mp4}
        size_max: 5GiB
        get_ttl: 2h
    """
)


def _raises(code: ErrorCode, fn, *args, **kwargs) -> SignerError:
    with pytest.raises(SignerError) as info:
        fn(*args, **kwargs)
    assert info.value.code is code
    return info.value


# --- loading ---------------------------------------------------------------------------------


def test_load_policy_reads_every_field() -> None:
    policy = load_policy(FULL)
    images = policy.profile("images")
    assert policy.default_profile == "images"
    assert dict(images.mime_types) == {"image/png": "png", "image/jpeg": "jpg"}
    assert images.size_max == 20 * MiB
    assert images.multipart_threshold == 16 * MiB
    assert images.part_size == 6 * MiB
    assert (images.put_ttl, images.get_ttl, images.ttl_max) == (600, 3600, 172800)
    assert images.key_template == "raw/{shard}/{key_base}.{ext}"
    assert images.prefix == "media"
    assert dict(images.required_headers) == {"x-amz-server-side-encryption": "AES256"}
    video = policy.profile("video")
    assert (video.part_size, video.put_ttl, video.ttl_max) == (8 * MiB, 900, 604800)
    assert policy.profile(None) is images
    assert policy.longest_get_ttl() == 7200


def test_sizes_and_durations_may_be_plain_integers() -> None:
    policy = load_policy(
        "profiles:\n  default:\n    mime_types: {text/plain: txt}\n    size_max: 1000\n"
        "    put_ttl: 60\n"
    )
    assert policy.profile(None).size_max == 1000
    assert policy.profile(None).put_ttl == 60


@pytest.mark.parametrize(
    ("yaml_text", "field", "reason"),
    [
        ("profiles: [", "<policy>", "not valid YAML at line"),
        ("- a\n- b\n", "<policy>", "mapping"),
        ("profiles: {}\n", "profiles", "must map"),
        ("profile: {}\n", "profile", "unknown field"),
        ("profiles:\n  default: 3\n", "profiles.default", "mapping"),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, colour: red}\n",
            "profiles.default.colour",
            "unknown field",
        ),
        ("profiles:\n  default: {size_max: 1MiB}\n", "profiles.default.mime_types", "required"),
        ("profiles:\n  default: {mime_types: {a/b: c}}\n", "profiles.default.size_max", "required"),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 5 potatoes}\n",
            "profiles.default.size_max",
            "not a size",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: [1]}\n",
            "profiles.default.size_max",
            "not a size",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 6TiB}\n",
            "profiles.default.size_max",
            "outside",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, put_ttl: soon}\n",
            "profiles.default.put_ttl",
            "not a duration",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, put_ttl: true}\n",
            "profiles.default.put_ttl",
            "not a duration",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, ttl_max: 8d}\n",
            "profiles.default.ttl_max",
            "outside",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, get_ttl: 2d,"
            " ttl_max: 1d}\n",
            "profiles.default.get_ttl",
            "outside",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " part_size: 4MiB}\n",
            "profiles.default.part_size",
            "outside 5 MiB..5 GiB",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " multipart_threshold: 6GiB}\n",
            "profiles.default.multipart_threshold",
            "outside",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: .png}, size_max: 1MiB}\n",
            "profiles.default.mime_types.image/png",
            "no dot",
        ),
        (
            "profiles:\n  default: {mime_types: {png: png}, size_max: 1MiB}\n",
            "profiles.default.mime_types",
            "not a MIME type",
        ),
        (
            "profiles:\n  default: {mime_types: {}, size_max: 1MiB}\n",
            "profiles.default.mime_types",
            "at least one",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '{prefix}/{name}{ext}'}\n",
            "profiles.default.key_template",
            "unknown placeholder {name}",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '{prefix}/{yyyy}{ext}'}\n",
            "profiles.default.key_template",
            "{uuid} or {key_base}",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '{uuid.__class__}'}\n",
            "profiles.default.key_template",
            "unknown placeholder",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '{uuid!r}'}\n",
            "profiles.default.key_template",
            "format spec or conversion",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '/abs/{uuid}'}\n",
            "profiles.default.key_template",
            "starts with '/'",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " key_template: '{prefix}/../{uuid}'}\n",
            "profiles.default.key_template",
            "'..'",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " prefix: ../etc}\n",
            "profiles.default.prefix",
            "relative path",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB, prefix: 3}\n",
            "profiles.default.prefix",
            "string",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " prefix: " + "p" * 900 + "}\n",
            "profiles.default.key_template",
            "1024 bytes",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " required_headers: {Content-Type: text/html}}\n",
            "profiles.default.required_headers.Content-Type",
            "set by the signer",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " required_headers: {x-amz-meta-v: 1}}\n",
            "profiles.default.required_headers.x-amz-meta-v",
            "quote numbers",
        ),
        (
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1MiB,"
            " required_headers: {'bad name': x}}\n",
            "profiles.default.required_headers",
            "not an HTTP header name",
        ),
        (
            "profiles:\n  a: {mime_types: {image/png: png}, size_max: 1MiB}\n",
            "default_profile",
            "'default' is not a profile; use one of a",
        ),
        (
            "default_profile: [x]\nprofiles:\n  a: {mime_types: {image/png: png}, size_max: 1}\n",
            "default_profile",
            "profile name",
        ),
        (
            "profiles:\n  'bad name': {mime_types: {image/png: png}, size_max: 1MiB}\n",
            "profiles.bad name.name",
            "A-Z a-z 0-9",
        ),
    ],
)
def test_load_policy_names_the_wrong_field(yaml_text: str, field: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(yaml_text)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value) == f"{field}: {info.value.reason}"
    assert isinstance(info.value, ValueError)


def test_policy_error_carries_the_source() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy("profiles: 3", source="/etc/signer/policy.yaml")
    assert info.value.source == "/etc/signer/policy.yaml"


def test_fractional_seconds_are_refused() -> None:
    with pytest.raises(PolicyError, match="whole number"):
        load_policy(
            "profiles:\n  default: {mime_types: {image/png: png}, size_max: 1, put_ttl: 1500ms}\n"
        )


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
    policy = load_policy(FULL)
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


@pytest.mark.parametrize(
    "text",
    [
        '"": 1\n',
        'profiles:\n  default:\n    mime_types: {image/png: png}\n    size_max: 1MiB\n    "": 3\n',
    ],
)
def test_an_empty_key_is_named_in_the_error(text: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(text)
    assert "unknown field ''" in str(info.value)
