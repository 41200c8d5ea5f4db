"""Settings from an environment mapping: defaults, and every problem named at once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from common.errors import ConfigError
from signer.core.policy import DEFAULT_POLICY
from signer.settings import (
    RateLimit,
    load,
    load_client,
    parse_listen,
    parse_rate_limit,
)

SECRET = "s" * 40
BASE = {
    "SIGNER_S3_ENDPOINT": "http://minio:9000",
    "SIGNER_ACCESS_KEY": "signer",
    "SIGNER_SECRET_KEY": "signer-secret-key",
    "MINIO_BUCKET": "uploads",
    "SIGNER_API_TOKENS": "a" * 16,
    "SIGNER_TOKEN_SECRETS": SECRET,
}


def problems(env: dict[str, str], **kwargs) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load(env, **kwargs)
    return dict(caught.value.problems)


def test_defaults() -> None:
    settings = load(BASE)
    assert settings.public_endpoint == settings.s3_endpoint == "http://minio:9000"
    assert settings.region == "us-east-1"
    assert settings.listen == "0.0.0.0:8080"  # noqa: S104 - the documented default
    assert settings.workers == 1
    assert settings.rate_limit == RateLimit(20.0, 40)
    assert settings.storage_timeout == 10.0
    assert settings.policy is DEFAULT_POLICY
    assert settings.token_issuer == settings.token_audience == "minio-stack-signer"
    assert settings.demo is False
    assert settings.access_log is False  # /metrics counts requests; no line per request
    assert load({**BASE, "SIGNER_ACCESS_LOG": "true"}).access_log is True


def test_an_empty_environment_names_every_missing_variable() -> None:
    found = problems({})
    assert set(found) == {
        "SIGNER_S3_ENDPOINT",
        "SIGNER_ACCESS_KEY",
        "SIGNER_SECRET_KEY",
        "MINIO_BUCKET",
        "SIGNER_API_TOKENS",
        "SIGNER_TOKEN_SECRETS",
    }
    assert "openssl rand" in found["SIGNER_TOKEN_SECRETS"]


def test_presign_without_a_server_needs_no_api_tokens() -> None:
    env = {k: v for k, v in BASE.items() if k != "SIGNER_API_TOKENS"}
    assert load(env, serving=False).api_tokens == ()
    assert "SIGNER_API_TOKENS" in problems(env)


def test_secrets_are_never_echoed() -> None:
    short = "short-tok"
    found = problems({**BASE, "SIGNER_API_TOKENS": f"{'b' * 20},{short}"})
    assert "token #2" in found["SIGNER_API_TOKENS"] and short not in found["SIGNER_API_TOKENS"]
    shown = repr(load(BASE))
    for secret in (BASE["SIGNER_SECRET_KEY"], BASE["SIGNER_API_TOKENS"], SECRET):
        assert secret not in shown


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SIGNER_S3_ENDPOINT", "minio", "neither a URL nor host:port"),
        ("SIGNER_PUBLIC_ENDPOINT", "https://cdn.example.com/path", "has a path"),
        ("MINIO_BUCKET", "Bad_Bucket", "lowercase"),
        ("SIGNER_API_TOKENS", "tok1-0123456789ab,tok1-0123456789ab", "twice"),
        ("SIGNER_TOKEN_SECRETS", "too-short", "32 characters"),
        ("SIGNER_LISTEN", "8080", "host:port"),
        ("SIGNER_LISTEN", "0.0.0.0:99999", "outside 1..65535"),
        ("SIGNER_RATE_LIMIT", "fast", "not a rate limit"),
        ("SIGNER_WORKERS", "0", "1 to 64"),
        ("SIGNER_STORAGE_TIMEOUT", "1h", "at most 5m"),
        ("SIGNER_DEMO", "maybe", "boolean"),
        ("SIGNER_ACCESS_LOG", "loud", "boolean"),
    ],
)
def test_bad_values_name_their_variable(name: str, value: str, expected: str) -> None:
    found = problems({**BASE, name: value})
    assert list(found) == [name]
    assert expected in found[name]


def test_the_signer_must_not_be_root() -> None:
    found = problems({**BASE, "MINIO_ROOT_USER": BASE["SIGNER_ACCESS_KEY"]})
    assert "bucket-scoped" in found["SIGNER_ACCESS_KEY"]


def test_secret_files(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-secret\n")
    env = {k: v for k, v in BASE.items() if k != "SIGNER_SECRET_KEY"}
    assert load({**env, "SIGNER_SECRET_KEY_FILE": str(secret)}).secret_key == "from-a-file-secret"
    found = problems({**env, "SIGNER_SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert "cannot read" in found["SIGNER_SECRET_KEY_FILE"]


def test_policy_file_errors_name_the_field(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "profiles:\n  default:\n    mime_types: {image/png: png}\n    size_max: lots\n"
    )
    found = problems({**BASE, "SIGNER_POLICY_FILE": str(policy)})
    assert "profiles.default.size_max" in found["SIGNER_POLICY_FILE"]
    found = problems({**BASE, "SIGNER_POLICY_FILE": str(tmp_path / "none.yaml")})
    assert "cannot read" in found["SIGNER_POLICY_FILE"]
    policy.write_text(
        "profiles:\n  default:\n    mime_types: {image/png: png}\n    size_max: 1MiB\n"
        "    prefix: .minio-stack/x\n"
    )
    found = problems({**BASE, "SIGNER_POLICY_FILE": str(policy)})
    assert "signer's own records" in found["SIGNER_POLICY_FILE"]


def test_a_policy_file_is_loaded(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "profiles:\n  default:\n    mime_types: {image/png: png}\n    size_max: 1MiB\n"
    )
    settings = load({**BASE, "SIGNER_POLICY_FILE": str(policy)})
    assert settings.policy.profile(None).size_max == 1024 * 1024
    assert settings.policy_source == str(policy)


def _pem(tmp_path: Path, name: str) -> Path:
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / name
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_pem_keys_rotate(tmp_path: Path) -> None:
    old, new = _pem(tmp_path, "old.pem"), _pem(tmp_path, "new.pem")
    env = {k: v for k, v in BASE.items() if k != "SIGNER_TOKEN_SECRETS"}
    before = load({**env, "SIGNER_TOKEN_KEY_FILE": str(old)})
    now = datetime.now(UTC)
    token = before.keys.issue(
        {"jti": "1"}, now=now, ttl=60, issuer=before.token_issuer, audience=before.token_audience
    )
    after = load(
        {**env, "SIGNER_TOKEN_KEY_FILE": str(new), "SIGNER_TOKEN_PREVIOUS_KEY_FILES": str(old)}
    )
    claims = after.keys.verify(
        token, now=now, issuer=after.token_issuer, audience=after.token_audience
    )
    assert claims["jti"] == "1"


def test_token_key_choices_conflict(tmp_path: Path) -> None:
    pem = _pem(tmp_path, "k.pem")
    found = problems({**BASE, "SIGNER_TOKEN_KEY_FILE": str(pem)})
    assert "not both" in found["SIGNER_TOKEN_SECRETS"]
    found = problems({**BASE, "SIGNER_TOKEN_PREVIOUS_KEY_FILES": str(pem)})
    assert "SIGNER_TOKEN_SECRETS" in found["SIGNER_TOKEN_PREVIOUS_KEY_FILES"]
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    env = {k: v for k, v in BASE.items() if k != "SIGNER_TOKEN_SECRETS"}
    assert "SIGNER_TOKEN_KEY" in problems({**env, "SIGNER_TOKEN_KEY_FILE": str(bad)})


def test_rotated_secrets_all_verify() -> None:
    old = load(BASE)
    both = load({**BASE, "SIGNER_TOKEN_SECRETS": f"{'n' * 40},{SECRET}"})
    now = datetime.now(UTC)
    token = old.keys.issue(
        {"jti": "2"}, now=now, ttl=60, issuer="minio-stack-signer", audience="minio-stack-signer"
    )
    assert (
        both.keys.verify(
            token, now=now, issuer="minio-stack-signer", audience="minio-stack-signer"
        )["jti"]
        == "2"
    )
    assert both.keys.active_kid != old.keys.active_kid


def _rsa_pem(tmp_path: Path) -> Path:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "rsa.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_signing_alg_checks_the_keys(tmp_path: Path) -> None:
    assert load({**BASE, "SIGNER_SIGNING_ALG": "ES256"}).keys.active_alg == "ES256"
    found = problems({**BASE, "SIGNER_SIGNING_ALG": "RS256"})
    assert "secrets make ES256 keys" in found["SIGNER_SIGNING_ALG"]
    assert (
        "not ES256 or RS256"
        in problems({**BASE, "SIGNER_SIGNING_ALG": "HS256"})["SIGNER_SIGNING_ALG"]
    )
    env = {k: v for k, v in BASE.items() if k != "SIGNER_TOKEN_SECRETS"}
    rsa_env = {**env, "SIGNER_TOKEN_KEY_FILE": str(_rsa_pem(tmp_path))}
    assert load({**rsa_env, "SIGNER_SIGNING_ALG": "RS256"}).keys.active_alg == "RS256"
    found = problems({**rsa_env, "SIGNER_SIGNING_ALG": "ES256"})
    assert "EC P-256" in found["SIGNER_SIGNING_ALG"]


def test_active_kid_picks_the_signing_key() -> None:
    new = "n" * 40
    both = {**BASE, "SIGNER_TOKEN_SECRETS": f"{SECRET},{new}"}
    new_kid = load({**BASE, "SIGNER_TOKEN_SECRETS": new}).keys.active_kid
    assert load(both).keys.active_kid != new_kid  # the first secret signs by default
    switched = load({**both, "SIGNER_ACTIVE_KID": new_kid}).keys
    assert switched.active_kid == new_kid and len(switched.kids) == 2
    found = problems({**both, "SIGNER_ACTIVE_KID": "0000000000000000"})
    # The message lists the kids (they are not secret), never a secret.
    assert new_kid in found["SIGNER_ACTIVE_KID"] and new not in found["SIGNER_ACTIVE_KID"]


def test_the_policy_files_deployment_knobs_must_agree(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    new = "n" * 40
    new_kid = load({**BASE, "SIGNER_TOKEN_SECRETS": new}).keys.active_kid
    policy.write_text(
        f"bucket: uploads\nregion: us-east-1\nsigning_alg: ES256\nactive_kid: '{new_kid}'\n"
        "allowed_mimes: {image: [image/png]}\n"
    )
    env = {**BASE, "SIGNER_POLICY_FILE": str(policy), "SIGNER_TOKEN_SECRETS": f"{SECRET},{new}"}
    settings = load(env)
    assert settings.keys.active_kid == new_kid
    assert dict(settings.policy.profile(None).mime_types) == {"image/png": "png"}
    assert load({**env, "SIGNER_ACTIVE_KID": new_kid}).keys.active_kid == new_kid
    found = problems(
        {
            **env,
            "MINIO_BUCKET": "media",
            "S3_REGION": "eu-west-1",
            "SIGNER_SIGNING_ALG": "RS256",
            "SIGNER_ACTIVE_KID": load(BASE).keys.active_kid,
        }
    )
    assert "policy file names 'uploads'" in found["MINIO_BUCKET"]
    assert "policy file names 'us-east-1'" in found["S3_REGION"]
    assert "policy file says signing_alg" in found["SIGNER_SIGNING_ALG"]
    assert "policy file says active_kid" in found["SIGNER_ACTIVE_KID"]
    # A region that came from MinIO's variable is named as such.
    assert (
        "policy file names 'us-east-1'"
        in problems({**env, "MINIO_REGION": "eu-west-1"})["MINIO_REGION"]
    )


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({}, "us-east-1"),
        ({"MINIO_REGION": "eu-central-1"}, "eu-central-1"),  # one variable sets both sides
        ({"MINIO_REGION": "eu-central-1", "S3_REGION": "eu-west-1"}, "eu-west-1"),
        ({"MINIO_REGION": "", "S3_REGION": ""}, "us-east-1"),  # Compose's ${NAME:-}
    ],
)
def test_the_region_is_s3_regions_else_minios(env: dict[str, str], region: str) -> None:
    assert load({**BASE, **env}).region == region


def test_a_bad_region_names_the_variable_it_came_from() -> None:
    assert "is not a region name" in problems({**BASE, "S3_REGION": "eu west"})["S3_REGION"]
    assert "is not a region name" in problems({**BASE, "MINIO_REGION": "1x"})["MINIO_REGION"]


def test_internal_endpoint_and_audit_format() -> None:
    settings = load(BASE)
    assert settings.internal_endpoint == settings.s3_endpoint  # what the signer calls itself
    assert settings.audit_format == "logfmt"
    inside = load(
        {
            **BASE,
            "SIGNER_INTERNAL_ENDPOINT": "http://minio.internal:9000",
            "SIGNER_AUDIT_FORMAT": "JSON",
        }
    )
    assert inside.internal_endpoint == "http://minio.internal:9000"
    assert inside.audit_format == "json"
    assert load({**BASE, "SIGNER_AUDIT_FORMAT": "off"}).audit_format == "off"
    found = problems(
        {**BASE, "SIGNER_INTERNAL_ENDPOINT": "minio:9000", "SIGNER_AUDIT_FORMAT": "syslog"}
    )
    assert "not a URL" in found["SIGNER_INTERNAL_ENDPOINT"]
    assert "logfmt, json or off" in found["SIGNER_AUDIT_FORMAT"]


def test_the_demo_page_needs_a_loopback_listen_address() -> None:
    assert "loopback" in problems({**BASE, "SIGNER_DEMO": "true"})["SIGNER_DEMO"]
    assert load({**BASE, "SIGNER_DEMO": "true", "SIGNER_LISTEN": "127.0.0.1:8080"}).demo


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8080", ("127.0.0.1", 8080)),
        ("[::]:9000", ("::", 9000)),
        ("localhost:1", ("localhost", 1)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["::1:8080", "[::1:8080", ":8080", "host:", "host:http"])
def test_parse_listen_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="host:port"):
        parse_listen(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("20,40", RateLimit(20, 40)),
        ("5", RateLimit(5, 10)),
        ("0.5/s,3", RateLimit(0.5, 3)),
        ("0", RateLimit(0, 0)),
        ("off", RateLimit(0, 0)),
    ],
)
def test_parse_rate_limit(text: str, expected: RateLimit) -> None:
    assert parse_rate_limit(text) == expected
    assert parse_rate_limit(text).enabled == (expected.rate > 0)


@pytest.mark.parametrize("text", ["-1", "10,0", "x,y", "10,2.5"])
def test_parse_rate_limit_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="RATE"):
        parse_rate_limit(text)


def test_client_settings() -> None:
    settings = load_client({"SIGNER_API_TOKEN": "t" * 20})
    assert settings.signer_url == "http://127.0.0.1:8080"
    assert "t" * 20 not in repr(settings)
    chosen = load_client(
        {"SIGNER_URL": "http://a:1", "SIGNER_API_TOKEN": "env"},
        signer_url="http://b:2/",
        api_token="option",
    )
    assert (chosen.signer_url, chosen.api_token) == ("http://b:2", "option")
    with pytest.raises(ConfigError) as caught:
        load_client({"SIGNER_URL": "nope"})
    assert {name for name, _ in caught.value.problems} == {"SIGNER_URL", "SIGNER_API_TOKEN"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # Render's `fromService … property: hostport`: no scheme, a private network.
        ("minio-server-a1b2:9000", "http://minio-server-a1b2:9000"),
        ("10.0.0.7:9000", "http://10.0.0.7:9000"),
        ("[fd00::7]:9000", "http://[fd00::7]:9000"),
        ("https://files.example.com", "https://files.example.com"),
    ],
)
def test_the_s3_endpoint_may_be_a_bare_host_and_port(value: str, expected: str) -> None:
    settings = load({**BASE, "SIGNER_S3_ENDPOINT": value})
    assert settings.s3_endpoint == settings.internal_endpoint == expected
    if "://" not in value:  # clients need a scheme: the public endpoint still must have one
        assert "SIGNER_PUBLIC_ENDPOINT" in problems({**BASE, "SIGNER_PUBLIC_ENDPOINT": value})


@pytest.mark.parametrize("value", ["minio", "minio:90/x", "minio:", ":9000", "minio:99999"])
def test_a_bare_s3_endpoint_needs_a_host_and_a_port(value: str) -> None:
    assert "SIGNER_S3_ENDPOINT" in problems({**BASE, "SIGNER_S3_ENDPOINT": value})


def test_the_signer_listens_on_port_where_the_platform_sets_it() -> None:
    assert load({**BASE, "PORT": "10000"}).listen == "0.0.0.0:10000"  # noqa: S104 - Render's way
    # SIGNER_LISTEN says exactly where; PORT is then not even read.
    explicit = {**BASE, "PORT": "not-a-port", "SIGNER_LISTEN": "127.0.0.1:8081"}
    assert load(explicit).listen == "127.0.0.1:8081"
    assert "PORT" in problems({**BASE, "PORT": "70000"})
