"""The rotation commands' CLI contract: help, exit codes, one-line errors, nothing changed."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from minio_stack.cli import main


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("STACK_", "MINIO_", "SIGNER_", "RENDER_"))
    }
    clean["STACK_ENV_FILE"] = str(tmp_path / ".env")
    return clean


@pytest.mark.parametrize("command", ["rotate-root", "rotate-signer-key"])
def test_help_lists_exit_codes(command: str) -> None:
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(main, [command, flag])
        assert result.exit_code == 0
        assert "Exit codes: 0 ok" in result.output and "--json" in result.output


def test_render_settings_are_all_named_at_once(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["rotate-root", "--target", "render", "--json"], env=env)
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False
    for name in ("RENDER_API_KEY", "RENDER_SERVICE_ID", "MINIO_ENDPOINT", "MINIO_ROOT_PASSWORD"):
        assert name in doc["error"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr


def test_a_missing_env_file_is_a_config_error(env: dict[str, str], tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["rotate-root", "--target", "native"], env=env)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr
    assert list(tmp_path.iterdir()) in ([], [tmp_path / ".env.rotation.lock"])


def test_a_bad_new_user_is_refused_before_anything(env: dict[str, str]) -> None:
    result = CliRunner().invoke(
        main, ["rotate-root", "--target", "native", "--new-user", "a=b"], env=env
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error:") and "--new-user" in result.stderr


def test_overlap_must_be_a_duration_and_not_with_finish(env: dict[str, str]) -> None:
    bad = CliRunner().invoke(main, ["rotate-signer-key", "--overlap", "soon"], env=env)
    assert bad.exit_code == 2 and "--overlap" in bad.stderr
    both = CliRunner().invoke(main, ["rotate-signer-key", "--overlap", "1h", "--finish"], env=env)
    assert both.exit_code == 2 and "--finish" in both.stderr


def test_signer_key_is_not_offered_for_render(env: dict[str, str]) -> None:
    result = CliRunner().invoke(main, ["rotate-signer-key", "--target", "render"], env=env)
    assert result.exit_code == 2
