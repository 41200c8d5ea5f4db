"""stack/envfile.py: .env from .env.example, secrets generated, never overwritten."""

from __future__ import annotations

import stat
from pathlib import Path

from dotenv import dotenv_values

from common.validators import check_access_key, check_secret_key
from harness.minio_server import ROOT
from signer.core.tokens import MIN_SECRET_CHARS
from signer.settings import MIN_API_TOKEN_CHARS
from stack.envfile import GENERATED, fill_secrets, init

EXAMPLE = ROOT / ".env.example"


def test_example_leaves_exactly_the_generated_secrets_empty() -> None:
    values = dotenv_values(EXAMPLE)
    assert {k for k, v in values.items() if not v} == set(GENERATED)
    assert "minioadmin" not in EXAMPLE.read_text()


def test_init_generates_every_secret_with_mode_0600(tmp_path: Path) -> None:
    result = init(tmp_path / ".env", EXAMPLE)
    assert result.created and set(result.generated) == set(GENERATED)
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600
    values = dotenv_values(tmp_path / ".env")
    assert all(values[name] for name in GENERATED)
    # Valid for the programs that read them (MinIO's rules, the signer's minimum lengths).
    check_secret_key(values["MINIO_ROOT_PASSWORD"])
    check_secret_key(values["SIGNER_SECRET_KEY"])
    check_access_key(values["MINIO_ROOT_USER"])
    assert len(values["SIGNER_API_TOKENS"]) >= MIN_API_TOKEN_CHARS
    assert len(values["SIGNER_TOKEN_SECRETS"]) >= MIN_SECRET_CHARS
    assert "," not in values["SIGNER_API_TOKENS"] + values["SIGNER_TOKEN_SECRETS"]
    # Everything else is the example's, comments included.
    text = (tmp_path / ".env").read_text()
    assert text.count("\n") == EXAMPLE.read_text().count("\n")
    assert "# --- Signer" in text


def test_two_inits_generate_different_secrets(tmp_path: Path) -> None:
    init(tmp_path / "a.env", EXAMPLE)
    init(tmp_path / "b.env", EXAMPLE)
    a, b = dotenv_values(tmp_path / "a.env"), dotenv_values(tmp_path / "b.env")
    assert all(a[name] != b[name] for name in GENERATED)


def test_an_existing_env_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    path.write_text("MINIO_ROOT_PASSWORD=mine-and-only-mine\n")
    result = init(path, EXAMPLE)
    assert not result.created and result.generated == ()
    assert path.read_text() == "MINIO_ROOT_PASSWORD=mine-and-only-mine\n"


def test_fill_only_touches_empty_generated_values() -> None:
    text, filled = fill_secrets(
        "A=\nMINIO_ROOT_PASSWORD=set\n# MINIO_ROOT_PASSWORD=\nSIGNER_SECRET_KEY=\n",
        {"MINIO_ROOT_PASSWORD": lambda: "x", "SIGNER_SECRET_KEY": lambda: "y"},
    )
    assert text == "A=\nMINIO_ROOT_PASSWORD=set\n# MINIO_ROOT_PASSWORD=\nSIGNER_SECRET_KEY=y\n"
    assert filled == ["SIGNER_SECRET_KEY"]
