"""The policy file: YAML text → a checked Policy, with the first wrong field named."""

from __future__ import annotations

import textwrap

import pytest

from signer.core.policy import MiB
from signer.policy_file import PolicyError, load_policy, load_policy_file

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


def test_a_reader_of_the_file_needs_only_this_module() -> None:
    """load_policy, the error it raises and the policy without a file: the core's own objects."""
    from signer import policy_file
    from signer.core import policy

    assert policy_file.PolicyError is policy.PolicyError
    assert policy_file.DEFAULT_POLICY is policy.DEFAULT_POLICY
    assert policy_file.__all__ == [
        "DEFAULT_POLICY",
        "PolicyError",
        "PolicyFile",
        "load_policy",
        "load_policy_file",
    ]


# --- the spec's knobs, under the spec's names --------------------------------------------------

SPEC_ONLY = textwrap.dedent(
    """
    multipart_threshold_mb: 20
    part_size_mb: 10
    token_ttl_seconds: 600
    allowed_mimes: {image: [image/jpeg, image/png], video: [video/mp4, video/quicktime]}
    path_template_raw: "raw/{shard?}/{key_base}.{ext}"
    enable_sharding: true
    bucket: media
    region: eu-west-1
    signing_alg: RS256
    active_kid: 0123456789abcdef
    """
)


def test_a_file_of_spec_knobs_alone_makes_the_default_profile() -> None:
    read = load_policy_file(SPEC_ONLY)
    profile = read.policy.profile(None)
    assert profile.name == "default"
    assert profile.multipart_threshold == 20 * MiB and profile.part_size == 10 * MiB
    assert profile.token_ttl == 600
    assert profile.key_template == "raw/{shard?}/{key_base}.{ext}" and profile.enable_sharding
    # The allowlist is exactly allowed_mimes, with the usual extensions.
    assert dict(profile.mime_types) == {
        "image/jpeg": "jpg",
        "image/png": "png",
        "video/mp4": "mp4",
        "video/quicktime": "mov",
    }
    assert dict(profile.kinds)["video"] == ("video/mp4", "video/quicktime")
    # The rest is the built-in default profile's (its SSE header included).
    assert dict(profile.required_headers) == {"x-amz-server-side-encryption": "AES256"}
    assert (read.bucket, read.region, read.signing_alg, read.active_kid) == (
        "media",
        "eu-west-1",
        "RS256",
        "0123456789abcdef",
    )


def test_top_level_knobs_apply_to_every_profile_that_sets_none() -> None:
    policy = load_policy(
        textwrap.dedent(
            """
            multipart_threshold_mb: 7.5
            token_ttl_seconds: 300
            enable_sharding: true
            path_template_raw: "raw/{shard?}/{key_base}.{ext}"
            profiles:
              default:
                mime_types: {text/plain: txt}
                size_max: 1GiB
              own:
                mime_types: {text/plain: txt}
                size_max: 1GiB
                multipart_threshold: 32MiB
                token_ttl: 10m
                enable_sharding: false
                key_template: "own/{key_base}{ext}"
              spelled:
                allowed_mimes: {video: [video/webm]}
                size_max: 1GiB
                part_size_mb: 16
                token_ttl_seconds: 120
                path_template_raw: "spelled/{shard?}/{key_base}.{ext}"
            """
        )
    )
    inherited = policy.profile("default")
    assert inherited.multipart_threshold == int(7.5 * MiB) and inherited.token_ttl == 300
    assert inherited.enable_sharding and inherited.key_template.startswith("raw/")
    own = policy.profile("own")
    assert own.multipart_threshold == 32 * MiB and own.token_ttl == 600
    assert not own.enable_sharding and own.key_template == "own/{key_base}{ext}"
    spelled = policy.profile("spelled")
    assert spelled.part_size == 16 * MiB and spelled.token_ttl == 120
    assert dict(spelled.mime_types) == {"video/webm": "webm"}
    assert spelled.key_template == "spelled/{shard?}/{key_base}.{ext}"


@pytest.mark.parametrize(
    ("yaml_text", "field", "reason"),
    [
        (
            "profiles:\n  default: {mime_types: {a/b: c}, size_max: 1MiB, part_size: 8MiB,"
            " part_size_mb: 8}\n",
            "profiles.default.part_size_mb",
            "not both",
        ),
        ("multipart_threshold_mb: 15\nmultipart_threshold: 1\n", "multipart_threshold", "unknown"),
        ("part_size_mb: lots\n", "part_size_mb", "number of MiB"),
        ("part_size_mb: 0\n", "part_size_mb", "above 0"),
        ("part_size_mb: true\n", "part_size_mb", "number of MiB"),
        ("multipart_threshold_mb: 0.0000001\n", "multipart_threshold_mb", "whole number"),
        ("token_ttl_seconds: 15m\n", "token_ttl_seconds", "whole number of seconds"),
        ("token_ttl_seconds: 5\n", "token_ttl", "outside 60s"),
        ("path_template_raw: 3\n", "path_template_raw", "string"),
        ("path_template_raw: 'raw/{name}'\n", "key_template", "unknown placeholder"),
        ("enable_sharding: maybe\n", "enable_sharding", "true or false"),
        ("allowed_mimes: {image: [image/x-unknown]}\n", "kinds.image", "no known extension"),
        ("signing_alg: HS256\n", "signing_alg", "not ES256 or RS256"),
        ("bucket: 3\nprofiles: {}\n", "bucket", "must be a string"),
        (
            "profiles:\n  default: {size_max: 1MiB}\n",
            "profiles.default.mime_types",
            "allowed_mimes",
        ),
        (
            "tenants: {api-0123456789ab: acme}\nprofiles: {default: {mime_types: {a/b: c},"
            " size_max: 1}}\n",
            "tenants.api-0123456789ab",
            "list",
        ),
    ],
)
def test_bad_spec_knobs_name_the_field(yaml_text: str, field: str, reason: str) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(yaml_text)
    assert info.value.field == field, info.value
    assert reason in info.value.reason


def test_tenants_are_read() -> None:
    policy = load_policy(
        "tenants:\n  api-0123456789ab: [acme]\nprofiles:\n  default:\n"
        "    mime_types: {text/plain: txt}\n    size_max: 1KiB\n"
        "    key_template: 'orgs/{tenant}/{key_base}{ext}'\n"
    )
    assert policy.tenants == {"api-0123456789ab": frozenset({"acme"})}
    assert policy.profile(None).key_template == "orgs/{tenant}/{key_base}{ext}"
