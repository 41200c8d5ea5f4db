"""Settings: pure validation of every variable, all problems at once, and --config YAML."""

from __future__ import annotations

import pytest

from bootstrap.settings import ANY_ORIGIN, load
from common.errors import ConfigError, ExitCode
from tests.bootstrap.conftest import env_for

BASE = {
    "MINIO_ROOT_USER": "root-user",
    "MINIO_ROOT_PASSWORD": "root-password-1",
    "MINIO_BUCKET": "uploads",
}


def problems(environ, **kw) -> dict[str, str]:
    with pytest.raises(ConfigError) as info:
        load(environ, **kw)
    assert info.value.exit_code == ExitCode.CONFIG
    found: dict[str, str] = {}
    for name, why in info.value.problems:
        found[name] = f"{found[name]} | {why}" if name in found else why
    return found


def test_defaults():
    s = load(BASE)
    assert s.endpoint == "http://127.0.0.1:9000"
    assert s.host == "127.0.0.1:9000" and not s.secure
    assert s.region == "us-east-1"
    assert s.timeout == 120 and s.strict is True
    (b,) = s.buckets
    assert b.name == "uploads" and b.cors_origins == () and b.signer is None
    assert b.multipart_abort_after == 24 * 3600 and b.abort_after_days == 1
    assert b.signer_policy == "minio-stack-signer-uploads"


def test_full_environment():
    s = load(
        {
            **BASE,
            "MINIO_ENDPOINT": "https://storage.example.com:9443/",
            "CORS_ALLOWED_ORIGINS": "https://B.example.com:443, http://localhost:3000,https://b.example.com",
            "MULTIPART_ABORT_AFTER": "36h",
            "SIGNER_ACCESS_KEY": "signer",
            "SIGNER_SECRET_KEY": "signer-secret",
            "BOOTSTRAP_TIMEOUT": "90s",
            "BOOTSTRAP_STRICT": "false",
        }
    )
    assert s.endpoint == "https://storage.example.com:9443" and s.secure
    (b,) = s.buckets
    assert b.cors_origins == ("http://localhost:3000", "https://b.example.com")
    assert b.abort_after_days == 2  # ceil(1.5)
    assert b.signer is not None and b.signer.access_key == "signer"
    assert "signer-secret" not in repr(s)  # secrets never in a repr (logs, tracebacks)
    assert s.timeout == 90 and s.strict is False


def test_star_origin_needs_allow_any():
    found = problems({**BASE, "CORS_ALLOWED_ORIGINS": "*"})
    assert "CORS_ALLOW_ANY=true" in found["CORS_ALLOWED_ORIGINS"]
    s = load({**BASE, "CORS_ALLOWED_ORIGINS": "*", "CORS_ALLOW_ANY": "true"})
    assert s.buckets[0].cors_origins == (ANY_ORIGIN,) and s.buckets[0].cors_allow_any
    assert load({**BASE, "CORS_ALLOW_ANY": "true"}).buckets[0].cors_allow_any


def test_allow_any_with_listed_origins_is_ambiguous():
    found = problems(
        {**BASE, "CORS_ALLOW_ANY": "true", "CORS_ALLOWED_ORIGINS": "https://a.example"}
    )
    assert "already allows every origin" in found["CORS_ALLOWED_ORIGINS"]


def test_every_problem_listed_at_once_and_no_secret_echoed():
    environ = {
        "MINIO_ENDPOINT": "127.0.0.1:9000",
        "MINIO_ROOT_USER": "ab",
        "MINIO_ROOT_PASSWORD": "short7!",
        "MINIO_BUCKET": "Bad_Bucket",
        "CORS_ALLOWED_ORIGINS": "https://ok.example,not-an-origin",
        "MULTIPART_ABORT_AFTER": "soon",
        "SIGNER_ACCESS_KEY": "a=b",
        "BOOTSTRAP_STRICT": "maybe",
    }
    found = problems(environ)
    assert set(found) == {
        "MINIO_ENDPOINT",
        "MINIO_ROOT_USER",
        "MINIO_ROOT_PASSWORD",
        "MINIO_BUCKET",
        "CORS_ALLOWED_ORIGINS",
        "MULTIPART_ABORT_AFTER",
        "SIGNER_ACCESS_KEY",
        "SIGNER_SECRET_KEY",
        "BOOTSTRAP_STRICT",
    }
    assert "at least 3" in found["MINIO_ROOT_USER"]
    assert "at least 8" in found["MINIO_ROOT_PASSWORD"]
    assert "'=' or ','" in found["SIGNER_ACCESS_KEY"]
    assert "set both or neither" in found["SIGNER_SECRET_KEY"]
    assert "short7!" not in str(problems(environ))


def test_missing_credentials_and_bucket():
    found = problems({})
    assert set(found) == {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD", "MINIO_BUCKET"}
    assert all("required" in why for why in found.values())


@pytest.mark.parametrize("value", ["30s", "0", "1.5h", "24", "-1h"])
def test_bad_multipart_abort_after(value):
    assert "MULTIPART_ABORT_AFTER" in problems({**BASE, "MULTIPART_ABORT_AFTER": value})


def test_signer_must_differ_from_root():
    found = problems(
        {**BASE, "SIGNER_ACCESS_KEY": "root-user", "SIGNER_SECRET_KEY": "whatever-123"}
    )
    assert "equals MINIO_ROOT_USER" in found["SIGNER_ACCESS_KEY"]


def test_secret_files(tmp_path):
    (tmp_path / "pw").write_text("from-a-file-123\n")
    s = load({**BASE, "MINIO_ROOT_PASSWORD": "", "MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "pw")})
    assert s.root.secret_key == "from-a-file-123"
    found = problems(
        {**BASE, "MINIO_ROOT_PASSWORD": "", "MINIO_ROOT_PASSWORD_FILE": str(tmp_path / "nope")}
    )
    assert "cannot read" in found["MINIO_ROOT_PASSWORD_FILE"]


# --- --config YAML ------------------------------------------------------------------------


def test_yaml_declares_several_buckets(tmp_path):
    path = tmp_path / "buckets.yaml"
    path.write_text(
        """
buckets:
  - bucket: uploads
    cors_allowed_origins: [https://app.example.com, "http://localhost:3000"]
    signer_access_key: signer
    signer_secret_key: signer-secret
  - bucket: avatars
    cors_allowed_origins: https://app.example.com
    signer_access_key: signer
    signer_secret_key: signer-secret
  - bucket: public-assets
    cors_allow_any: true
"""
    )
    s = load(
        {"MINIO_ROOT_USER": "root-user", "MINIO_ROOT_PASSWORD": "root-password-1"}, config_file=path
    )
    assert [b.name for b in s.buckets] == ["uploads", "avatars", "public-assets"]
    assert s.buckets[0].cors_origins == ("http://localhost:3000", "https://app.example.com")
    assert s.cors_origins() == (ANY_ORIGIN,)  # MinIO's setting is server-wide: the union
    assert s.signer_policies("signer") == {
        "minio-stack-signer-uploads",
        "minio-stack-signer-avatars",
    }
    assert s.signer_buckets("signer") == {"uploads", "avatars"}


def test_yaml_problems_name_the_file_field(tmp_path):
    path = tmp_path / "buckets.yaml"
    path.write_text(
        """
buckets:
  - bucket: uploads
    multipart_abort_after: 2h
  - bucket: Bad
    colour: blue
    multipart_abort_after: 3h
  - bucket: uploads
"""
    )
    environ = {
        "MINIO_ROOT_USER": "root-user",
        "MINIO_ROOT_PASSWORD": "root-password-1",
        "MINIO_BUCKET": "x",
    }
    found = problems(environ, config_file=path)
    assert f"{path}: buckets[1].bucket" in found
    assert f"{path}: buckets[1].colour" in found
    assert "MINIO_BUCKET" in found  # declared in two places
    assert any("server-wide" in why for why in found.values())  # 2h vs 3h
    assert any("more than once" in why for why in found.values())


@pytest.mark.parametrize(
    ("text", "why"),
    [("buckets: [", "not valid YAML"), ("buckets: []", "non-empty"), ("- a", "non-empty")],
)
def test_yaml_shape_errors(tmp_path, text, why):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    found = problems(
        {"MINIO_ROOT_USER": "root-user", "MINIO_ROOT_PASSWORD": "root-password-1"}, config_file=path
    )
    assert why in found["--config"]


def test_missing_config_file(tmp_path):
    found = problems(BASE | {"MINIO_BUCKET": ""}, config_file=tmp_path / "absent.yaml")
    assert "cannot read" in found["--config"]


def test_env_for_helper_is_valid():
    assert load(env_for(None, MINIO_ROOT_USER="root-user", MINIO_ROOT_PASSWORD="root-password-1"))
