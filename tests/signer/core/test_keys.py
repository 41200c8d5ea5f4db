"""Server-chosen object keys, download key checks and Content-Disposition values."""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import (
    ObjectKey,
    content_disposition,
    fixed_prefix,
    key_problem,
    key_tenant,
    make_object_key,
    object_key,
    shard_of,
    validate_object_key,
)
from signer.core.policy import MiB, PolicyError, Profile

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
UUID = "0c1d2e3f-4a5b-4c6d-8e9f-a0b1c2d3e4f5"
DEFAULT = Profile(name="default", mime_types={"image/png": "png", "text/x-raw": ""}, size_max=MiB)
SHARDED = dataclasses.replace(DEFAULT, key_template="raw/{shard}/{key_base}.{ext}")


def _bad_request(fn, *args, **kwargs) -> SignerError:
    with pytest.raises(SignerError) as info:
        fn(*args, **kwargs)
    assert info.value.code is ErrorCode.BAD_REQUEST
    return info.value


def test_default_template_renders_ext_with_its_dot() -> None:
    key, base = make_object_key(DEFAULT, ext="png", now=NOW, uuid=UUID)
    assert key == f"uploads/2026/11/{UUID}.png"
    assert base == UUID


def test_dotted_ext_template_uses_the_template_dot_and_shards_by_key_base() -> None:
    key, base = make_object_key(SHARDED, ext="png", now=NOW, uuid=UUID, key_base="01J9ZKQ8")
    shard = hashlib.sha1(b"01J9ZKQ8", usedforsecurity=False).hexdigest()[:2]
    assert key == f"raw/{shard}/01J9ZKQ8.png"
    assert base == "01J9ZKQ8"


def test_empty_extension_leaves_no_trailing_dot() -> None:
    assert make_object_key(DEFAULT, ext="", now=NOW, uuid=UUID)[0] == f"uploads/2026/11/{UUID}"
    assert make_object_key(SHARDED, ext="", now=NOW, uuid=UUID)[0].endswith(UUID)


def test_every_variable_renders() -> None:
    profile = dataclasses.replace(
        DEFAULT,
        key_template="{prefix}/{yyyy}-{mm}-{dd}/{shard}/{key_base}/{uuid}{ext}",
        prefix="team/a",
    )
    key, _ = make_object_key(profile, ext=".PNG", now=NOW, uuid="u1", key_base="kb")
    shard = hashlib.sha1(b"kb", usedforsecurity=False).hexdigest()[:2]
    assert key == f"team/a/2026-11-23/{shard}/kb/u1.png"


def test_date_is_taken_in_utc() -> None:
    late_local = datetime(2026, 12, 1, 1, 0, tzinfo=timezone(timedelta(hours=3)))
    profile = dataclasses.replace(DEFAULT, key_template="{yyyy}/{mm}/{dd}/{uuid}")
    assert make_object_key(profile, ext="png", now=late_local, uuid="u")[0] == "2026/11/30/u"


@pytest.mark.parametrize(
    "key_base",
    [
        "../etc",
        "a/b",
        "a..b/..",
        "-leading",
        "_x",
        "a b",
        "é",
        "a\x00",
        "a\n",
        "x" * 129,
        "a.b",
        "\u202e",
    ],
)
def test_client_key_base_outside_the_pattern_is_refused(key_base: str) -> None:
    error = _bad_request(make_object_key, SHARDED, ext="png", now=NOW, uuid=UUID, key_base=key_base)
    assert "key_base" in error.message


@pytest.mark.parametrize("ext", ["p/ng", "..", "png\x00", "ñ", "x" * 17, "p.ng", 3])
def test_bad_extension_is_refused(ext: object) -> None:
    _bad_request(make_object_key, DEFAULT, ext=ext, now=NOW, uuid=UUID)


def test_server_uuid_and_clock_must_be_sane() -> None:
    with pytest.raises(ValueError):
        make_object_key(DEFAULT, ext="png", now=NOW, uuid="../x")
    with pytest.raises(ValueError):
        make_object_key(DEFAULT, ext="png", now=datetime(2026, 1, 1), uuid=UUID)


def test_fixed_prefix() -> None:
    assert fixed_prefix("{prefix}/{yyyy}/{mm}/{uuid}{ext}", "uploads") == "uploads/"
    assert fixed_prefix("raw/{shard}/{key_base}.{ext}", "uploads") == "raw/"
    assert fixed_prefix("{uuid}", "uploads") == ""


key_bases = st.one_of(
    st.none(),
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}", fullmatch=True),
    st.text(max_size=200),
)


@given(key_base=key_bases, ext=st.one_of(st.sampled_from(["png", "", "PNG"]), st.text(max_size=20)))
def test_keys_never_escape_the_template_prefix(key_base: str | None, ext: str) -> None:
    for profile in (DEFAULT, SHARDED):
        try:
            key, base = make_object_key(profile, ext=ext, now=NOW, uuid=UUID, key_base=key_base)
        except SignerError as exc:
            assert exc.code is ErrorCode.BAD_REQUEST
            continue
        prefix = fixed_prefix(profile.key_template, profile.prefix)
        assert key.startswith(prefix)
        assert key_problem(key) is None
        assert ".." not in key.split("/")
        assert len(key.encode()) <= 1024
        assert key.count("/") == profile.key_template.count("/")
        assert base == (key_base or UUID)
        if "{key_base}" in profile.key_template:
            assert f"/{base}." in key or key.endswith(f"/{base}")
        assert all(ch.isascii() and ch.isprintable() for ch in key)


@pytest.mark.parametrize(
    ("template", "problem"),
    [
        ("{prefix}/a\\b/{uuid}", "backslash"),
        ("{prefix}/a\x07b/{uuid}", "control character"),
    ],
)
def test_a_template_whose_own_text_is_unsafe_is_refused(template: str, problem: str) -> None:
    # Characters are checked in the template's text once, not in every key; such a template
    # must still never make a key (a policy refuses it when it loads).
    with pytest.raises(PolicyError, match=problem):
        dataclasses.replace(DEFAULT, key_template=template)


def test_a_key_whose_shape_depends_on_the_extension_is_checked_per_key() -> None:
    # Loads (the trial render has an extension), but an empty extension leaves a folder name.
    profile = dataclasses.replace(DEFAULT, key_template="{prefix}/{uuid}/.{ext}")
    assert make_object_key(profile, ext="png", now=NOW, uuid=UUID)[0].endswith(f"/{UUID}/.png")
    error = _bad_request(make_object_key, profile, ext="", now=NOW, uuid=UUID)
    assert "ends with '/'" in error.message


# --- the spec's path, {shard?}, {tenant}, and object_key's refusals ---------------------------

SPEC = dataclasses.replace(DEFAULT, key_template="raw/{shard?}/{key_base}.{ext}")
SPEC_SHARDED = dataclasses.replace(SPEC, enable_sharding=True)
TENANTS = dataclasses.replace(DEFAULT, key_template="orgs/{tenant}/files/{yyyy}/{mm}/{uuid}{ext}")


def test_the_spec_path_with_and_without_sharding() -> None:
    base = "01J9ZKQ8"
    assert shard_of(base) == hashlib.sha1(b"01J9ZKQ8", usedforsecurity=False).hexdigest()[:2]
    flat = object_key(SPEC, ext="mov", now=NOW, uuid=UUID, key_base=base)
    assert flat == ObjectKey(f"raw/{base}.mov", base, None, None)
    sharded = object_key(SPEC_SHARDED, ext="mov", now=NOW, uuid=UUID, key_base=base)
    assert sharded == ObjectKey(f"raw/{shard_of(base)}/{base}.mov", base, shard_of(base), None)
    given_shard = object_key(
        SPEC_SHARDED, ext="mov", now=NOW, uuid=UUID, key_base=base, shard=shard_of(base)
    )
    assert given_shard == sharded
    # At the end or the start of a template, the optional segment leaves no stray slash.
    for template, flat_key in (("{key_base}/{shard?}", base), ("{shard?}/{key_base}", base)):
        profile = dataclasses.replace(DEFAULT, key_template=template)
        assert make_object_key(profile, ext="", now=NOW, uuid=UUID, key_base=base)[0] == flat_key


def test_the_default_template_is_made_from_key_base() -> None:
    assert DEFAULT.key_template == "{prefix}/{yyyy}/{mm}/{key_base}{ext}"
    made = object_key(DEFAULT, ext="png", now=NOW, uuid=UUID, key_base="01JKB")
    assert made == ObjectKey("uploads/2026/11/01JKB.png", "01JKB", None, None)


@pytest.mark.parametrize(
    ("profile", "fields", "words"),
    [
        (
            dataclasses.replace(DEFAULT, key_template="{prefix}/{uuid}{ext}"),
            {"key_base": "01J"},
            "does not use key_base",
        ),  # fmt: skip
        (SPEC, {"key_base": "01J", "shard": shard_of("01J")}, "does not use shard"),
        (SPEC_SHARDED, {"key_base": "01J", "shard": "zz"}, "is not sha1(key_base)[0:2]"),
        (SPEC_SHARDED, {"key_base": "01J", "shard": "AB"}, "is not sha1(key_base)[0:2]"),
        (SPEC, {"key_base": "01J", "tenant": "acme"}, "does not use tenant"),
        (TENANTS, {}, "tenant is required"),
        (TENANTS, {"tenant": "../x"}, "tenant must be"),
        (TENANTS, {"tenant": "x" * 65}, "tenant must be"),
    ],
)
def test_object_key_refuses_what_its_key_would_not_use(
    profile: Profile, fields: dict[str, str], words: str
) -> None:
    error = _bad_request(object_key, profile, ext="png", now=NOW, uuid=UUID, **fields)
    assert words in error.message


def test_a_tenant_fills_its_segment_and_is_read_back_from_a_key() -> None:
    made = object_key(TENANTS, ext="txt", now=NOW, uuid="u1", tenant="acme")
    assert made == ObjectKey("orgs/acme/files/2026/11/u1.txt", None, None, "acme")
    assert key_tenant(TENANTS, made.key) == "acme"
    assert key_tenant(DEFAULT, "uploads/2026/11/x.png") is None
    for foreign in ("orgs/acme/elsewhere/x.txt", "orgs/ac me/files/2026/11/u1.txt"):
        _bad_request(key_tenant, TENANTS, foreign)


# --- validate_object_key ---------------------------------------------------------------------


@pytest.mark.parametrize("key", ["a", "uploads/2026/11/x.png", "dir/ünï code.txt", "a/.hidden"])
def test_valid_download_keys_pass_through(key: str) -> None:
    assert validate_object_key(key) == key


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "empty"),
        ("/etc/passwd", "starts with '/'"),
        ("a/../b", "'..'"),
        ("..", "'..'"),
        ("a/./b", "'.'"),
        ("a//b", "empty path segment"),
        ("a/", "ends with '/'"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("a\x7fb", "control character"),
        ("a\\..\\b", "backslash"),
        ("a\ud800", "control character"),
        ("x" * 1025, "1024 bytes"),
        ("é" * 513, "1024 bytes"),
        (None, "empty"),
    ],
)
def test_unsafe_download_keys_are_refused(key: object, problem: str) -> None:
    error = _bad_request(validate_object_key, key)
    assert problem in error.message


def test_a_key_of_exactly_1024_bytes_is_allowed() -> None:
    assert validate_object_key("é" * 512) == "é" * 512


# --- content_disposition ---------------------------------------------------------------------


def test_content_disposition_ascii_name() -> None:
    assert content_disposition("attachment", "report.pdf") == (
        "attachment; filename=\"report.pdf\"; filename*=UTF-8''report.pdf"
    )


def test_content_disposition_unicode_name_has_ascii_fallback() -> None:
    assert content_disposition("inline", "résumé 2026.pdf") == (
        "inline; filename=\"resume 2026.pdf\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202026.pdf"
    )
    value = content_disposition("attachment", "日本.txt")
    assert value == "attachment; filename=\"__.txt\"; filename*=UTF-8''%E6%97%A5%E6%9C%AC.txt"


def test_content_disposition_sanitises_quotes_paths_and_controls() -> None:
    value = content_disposition("Attachment", '../../etc/a"b\\c%d\r\nX: y\u202e.pdf')
    # Backslash is a path separator for some savers: only the last component remains.
    assert value == "attachment; filename=\"c_dX: y.pdf\"; filename*=UTF-8''c%25dX%3A%20y.pdf"
    fallback = value.split('filename="')[1].split('"')[0]
    assert not any(ch in fallback for ch in '"\\/%\r\n\u202e')
    encoded = value.split("filename*=UTF-8''")[1]
    assert all(ch.isascii() and ch not in ' "\\;,\r\n' for ch in encoded)


def test_content_disposition_ascii_names_keep_the_general_rules() -> None:
    # Printable ASCII takes a shortcut past NFKD and the per-character scan; it must answer
    # what the scan does: '"', '\\' and '%' become '_' in the fallback, controls are dropped.
    for code in range(128):
        ch = chr(code)
        value = content_disposition("attachment", f"a{ch}b.txt")
        if ch in "/\\":  # a path separator: only the last component is kept
            assert value == "attachment; filename=\"b.txt\"; filename*=UTF-8''b.txt"
        elif not ch.isprintable():
            assert value == "attachment; filename=\"ab.txt\"; filename*=UTF-8''ab.txt"
        else:
            shown = "_" if ch in '"%\\' else ch
            assert value.startswith(f'attachment; filename="a{shown}b.txt"; '), (code, value)


def test_content_disposition_exact_sanitised_output() -> None:
    assert content_disposition("attachment", 'dir/a"b.txt') == (
        "attachment; filename=\"a_b.txt\"; filename*=UTF-8''a%22b.txt"
    )
    assert content_disposition("attachment", "C:\\Users\\x\\evil\r\n.txt") == (
        "attachment; filename=\"evil.txt\"; filename*=UTF-8''evil.txt"
    )


@pytest.mark.parametrize("filename", [None, "", "   ", "..", "a/", "\x00\x01"])
def test_content_disposition_without_a_usable_name_is_just_the_type(filename: object) -> None:
    assert content_disposition("inline", filename) == "inline"


@pytest.mark.parametrize("disposition", ["form-data", "", "attachment; x=1", None])
def test_content_disposition_type_must_be_inline_or_attachment(disposition: object) -> None:
    error = _bad_request(content_disposition, disposition, "a.txt")
    assert "inline or attachment" in error.message


@given(st.text(max_size=300))
def test_content_disposition_is_always_a_safe_header_value(filename: str) -> None:
    value = content_disposition("attachment", filename)
    assert value.isascii()
    assert not any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    if value != "attachment":
        fallback = value.split('filename="', 1)[1].rsplit('"; filename*=', 1)[0]
        assert '"' not in fallback and "\\" not in fallback and "/" not in fallback
        encoded = value.rsplit("filename*=UTF-8''", 1)[1]
        assert all(ch.isalnum() or ch in "!#$&+-.^_`|~%" for ch in encoded)
