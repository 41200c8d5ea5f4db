"""Property tests that tests/signer/core/ does not already cover.

Already there (not repeated): make_object_key over random key_base/ext for two fixed
profiles, Content-Disposition over any filename, plan_parts over any size.

Added here:
- keys under *any* policy a YAML file can declare (random prefixes and templates), and
  through the real HTTP API with any filename/key_base/ext (the filename must never reach
  the key);
- policy-file parsing: any text, any YAML document and any near-miss policy either loads or
  fails with a PolicyError naming a field, never another exception;
- intent tokens: any garbage, any one-character change of a real token, and any claims.
"""

from __future__ import annotations

import secrets
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from harness.minio_server import MinioServer
from signer.app import create_app
from signer.core.errors import ErrorCode, SignerError
from signer.core.keys import fixed_prefix, key_problem, make_object_key
from signer.core.policy import Policy, PolicyError
from signer.core.tokens import TokenKeys
from signer.policy_file import load_policy
from signer.settings import load
from tests.signer.conftest import API_TOKEN, POLICY_YAML, environment, make_identity

NOW = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
UUID = "0192f0c4-7b5e-7c1a-9d3e-1f2a3b4c5d6e"
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- keys under any declared policy ------------------------------------------------------------

segment = st.from_regex(r"[a-z0-9][a-z0-9_-]{0,11}", fullmatch=True)
prefixes = st.lists(segment, min_size=1, max_size=3).map("/".join)
middles = st.lists(
    st.one_of(st.sampled_from(["{yyyy}", "{mm}", "{dd}", "{shard}"]), segment), max_size=3
)
leaves = st.sampled_from(["{uuid}{ext}", "{uuid}.{ext}", "{key_base}.{ext}", "{key_base}{ext}",
                          "{uuid}", "{key_base}", "x-{uuid}{ext}"])  # fmt: skip
templates = st.builds(
    lambda head, middle, leaf: "/".join([head, *middle, leaf]),
    st.one_of(st.just("{prefix}"), segment),
    middles,
    leaves,
)
extensions = st.from_regex(r"[a-z0-9]{0,16}", fullmatch=True)
anything = st.one_of(st.none(), st.text(max_size=200), st.from_regex(r"[A-Za-z0-9_-]{1,40}"))


def policy_yaml(prefix: str, template: str, exts: list[str]) -> str:
    mime_types = {f"application/x-type{i}": ext for i, ext in enumerate(exts)}
    return yaml.safe_dump(
        {"profiles": {"default": {"mime_types": mime_types, "size_max": "1MiB",
                                  "prefix": prefix, "key_template": template}}}
    )  # fmt: skip


@FAST
@given(
    prefix=prefixes,
    template=templates,
    exts=st.lists(extensions, min_size=1, max_size=3),
    key_base=anything,
    ext=st.one_of(extensions, st.text(max_size=20)),
)
def test_any_declared_policy_keeps_keys_under_its_prefix(
    prefix: str, template: str, exts: list[str], key_base: str | None, ext: str
) -> None:
    profile = load_policy(policy_yaml(prefix, template, exts)).profile(None)
    try:
        key, _ = make_object_key(profile, ext=ext, now=NOW, uuid=UUID, key_base=key_base)
    except SignerError as exc:
        assert exc.code is ErrorCode.BAD_REQUEST
        return
    assert key.startswith(fixed_prefix(template, prefix))
    if template.startswith("{prefix}"):
        assert key.startswith(prefix + "/")
    assert key_problem(key) is None
    assert ".." not in key.split("/") and "" not in key.split("/")
    assert all(ch.isascii() and ch.isprintable() for ch in key)
    assert not key.endswith(".")


# --- the same, through the real API, with any filename -----------------------------------------


@pytest.fixture(scope="module")
def api(minio: MinioServer, tmp_path_factory: pytest.TempPathFactory):
    policy = tmp_path_factory.mktemp("properties-policy") / "policy.yaml"
    policy.write_text(POLICY_YAML)
    identity = make_identity(minio, "props-" + secrets.token_hex(4))
    app = create_app(load(environment(identity, Path(policy))))
    with TestClient(app, headers={"Authorization": f"Bearer {API_TOKEN}"}) as client:
        yield client


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    filename=st.one_of(
        st.none(),
        st.text(max_size=300),
        st.sampled_from(["../../etc/passwd", "a/../../b.txt", "..", "x\r\nSet-Cookie: a=b"]),
    ),
    key_base=anything,
    ext=st.one_of(st.none(), st.text(max_size=17), st.sampled_from(["txt", "../txt", "TXT"])),
    profile=st.sampled_from([None, "default", "listing", "small"]),
)
def test_any_filename_key_base_or_ext_keeps_the_key_under_its_prefix(
    api: TestClient, filename: str | None, key_base: str | None, ext: str | None,
    profile: str | None,
) -> None:  # fmt: skip
    content_type = "video/quicktime" if profile == "listing" else "text/plain"
    body = {"content_type": content_type, "size_bytes": 10, "filename": filename,
            "key_base": key_base, "ext": ext, "profile": profile}  # fmt: skip
    answer = api.post("/v1/uploads/presign", json={k: v for k, v in body.items() if v is not None})
    if answer.status_code != 200:
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] in ("bad_request", "mime_not_allowed"), answer.text
        return
    key = answer.json()["object_key"]
    expected = {"listing": "listings/", "small": "small/"}.get(profile or "", "uploads/")
    assert key.startswith(expected)
    assert key_problem(key) is None
    assert ".." not in key.split("/")
    assert all(ch.isascii() and ch.isprintable() for ch in key)
    if filename and len(filename) > 3 and filename.isalnum():
        assert filename not in key  # the client's name never becomes part of the key


# --- policy-file parsing ---------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30)
)
yaml_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
field_values = {
    "mime_types": st.one_of(
        yaml_values,
        st.dictionaries(
            st.sampled_from(["image/png", "text/plain", "bad", ""]),
            st.one_of(extensions, st.text(max_size=5)),
            max_size=3,
        ),
    ),  # fmt: skip
    "size_max": st.one_of(yaml_values, st.sampled_from(["5MiB", "0", "-1", "1TB", "6TiB"])),
    "multipart_threshold": st.one_of(yaml_values, st.sampled_from(["16MiB", "6GiB"])),
    "part_size": st.one_of(yaml_values, st.sampled_from(["5MiB", "1KiB", "6GiB"])),
    "put_ttl": st.one_of(yaml_values, st.sampled_from(["15m", "0s", "1.5s", "8d"])),
    "get_ttl": st.one_of(yaml_values, st.sampled_from(["1h", "-1h"])),
    "ttl_max": st.one_of(yaml_values, st.sampled_from(["7d", "30d"])),
    "key_template": st.one_of(yaml_values, templates, st.text(max_size=40)),
    "prefix": st.one_of(yaml_values, prefixes, st.sampled_from(["", "/abs", "a//b", "../x"])),
    "required_headers": st.one_of(
        yaml_values,
        st.dictionaries(
            st.sampled_from(["x-amz-server-side-encryption", "host", "bad name"]),
            st.one_of(st.text(max_size=10), st.integers()),
            max_size=2,
        ),
    ),  # fmt: skip
    "unknown_field": yaml_values,
}
near_miss_profiles = st.fixed_dictionaries(
    {"mime_types": field_values["mime_types"], "size_max": field_values["size_max"]},
    optional={k: v for k, v in field_values.items() if k not in ("mime_types", "size_max")},
)
near_miss_policies = st.fixed_dictionaries(
    {"profiles": st.dictionaries(st.one_of(st.sampled_from(["default", "a b", ""]), scalars),
                                 near_miss_profiles, max_size=2)},
    optional={"default_profile": st.one_of(scalars, st.just("default"))},
)  # fmt: skip


def _has_empty_key(doc: object) -> bool:
    if isinstance(doc, dict):
        return "" in doc or any(_has_empty_key(v) for v in doc.values())
    return isinstance(doc, list) and any(_has_empty_key(v) for v in doc)


def _parses_or_names_a_field(text: str) -> Policy | PolicyError:
    try:
        return load_policy(text, source="fuzz.yaml")
    except PolicyError as exc:
        # The field may be "" only when the document's own key is "" (then that is its name).
        assert isinstance(exc.field, str) and (exc.field or _has_empty_key(yaml.safe_load(text)))
        assert isinstance(exc.reason, str) and exc.reason
        return exc


@FAST
@given(st.text(max_size=400))
def test_any_text_loads_or_fails_with_a_policy_error(text: str) -> None:
    _parses_or_names_a_field(text)


@FAST
@given(yaml_values)
def test_any_yaml_document_loads_or_fails_with_a_policy_error(doc: object) -> None:
    _parses_or_names_a_field(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(near_miss_policies)
def test_any_near_miss_policy_loads_or_names_the_field(doc: dict) -> None:
    outcome = _parses_or_names_a_field(yaml.safe_dump(doc))
    if isinstance(outcome, Policy):
        for profile in outcome.profiles.values():
            assert profile.mime_types and profile.size_max >= 1
            assert profile.put_ttl <= profile.ttl_max and profile.get_ttl <= profile.ttl_max


def test_the_near_miss_strategy_reaches_both_outcomes() -> None:
    # Guards the property above from passing vacuously on all-failures.
    good = {"profiles": {"default": {"mime_types": {"image/png": "png"}, "size_max": "5MiB"}}}
    bad = {"profiles": {"default": {"mime_types": {"image/png": "png"}, "size_max": "6TiB"}}}
    assert isinstance(_parses_or_names_a_field(yaml.safe_dump(good)), Policy)
    failure = _parses_or_names_a_field(yaml.safe_dump(bad))
    assert isinstance(failure, PolicyError) and "size_max" in failure.field


# --- intent tokens -----------------------------------------------------------------------------

KEYS = TokenKeys.from_secrets(["property-secret-" + "k" * 32])
ISS = AUD = "minio-stack-signer"
B64URL = string.ascii_letters + string.digits + "-_"
CLAIMS = {"sub": "t", "bucket": "b", "object_key": "uploads/a.txt", "mime": "text/plain",
          "size_max": 5, "strategy": "single", "jti": "intent-1"}  # fmt: skip
TOKEN = KEYS.issue(CLAIMS, now=NOW, ttl=900, issuer=ISS, audience=AUD)


def _verify(token: object, object_key: str | None = None) -> dict:
    return KEYS.verify(token, now=NOW, issuer=ISS, audience=AUD, object_key=object_key)  # type: ignore[arg-type]


jwt_like = st.builds(
    lambda a, b, c: f"{a}.{b}.{c}",
    st.text(B64URL, max_size=60),
    st.text(B64URL, max_size=120),
    st.text(B64URL, max_size=90),
)


@FAST
@given(st.one_of(st.text(max_size=300), jwt_like, st.binary(max_size=50), st.integers()))
def test_any_garbage_token_is_signature_invalid(token: object) -> None:
    with pytest.raises(SignerError) as info:
        _verify(token)
    assert info.value.code is ErrorCode.SIGNATURE_INVALID


@settings(max_examples=300, deadline=None)
@given(position=st.integers(0, len(TOKEN) - 1), replacement=st.sampled_from(B64URL + "."))
def test_any_one_character_change_is_caught(position: int, replacement: str) -> None:
    mutated = TOKEN[:position] + replacement + TOKEN[position + 1 :]
    try:
        claims = _verify(mutated)
    except SignerError as exc:
        assert exc.code is ErrorCode.SIGNATURE_INVALID
        return
    # Only a change that decodes to the same bytes (base64's unused low bits of the last
    # character of a segment) may pass, and then it means exactly the same claims.
    assert mutated == TOKEN or claims == _verify(TOKEN)


printable = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)


@FAST
@given(sub=printable, object_key=printable, other_key=printable, ttl=st.integers(1, 604800))
def test_any_claims_round_trip_and_stay_bound_to_their_key(
    sub: str, object_key: str, other_key: str, ttl: int
) -> None:
    claims = {**CLAIMS, "sub": sub, "object_key": object_key}
    token = KEYS.issue(claims, now=NOW, ttl=ttl, issuer=ISS, audience=AUD)
    verified = KEYS.verify(token, now=NOW, issuer=ISS, audience=AUD, object_key=object_key)
    assert {k: verified[k] for k in claims} == claims
    if other_key != object_key:
        with pytest.raises(SignerError):
            KEYS.verify(token, now=NOW, issuer=ISS, audience=AUD, object_key=other_key)
    with pytest.raises(SignerError):  # expired the second its ttl is over
        KEYS.verify(token, now=NOW + timedelta(seconds=ttl), issuer=ISS, audience=AUD)
