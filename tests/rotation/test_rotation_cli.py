"""The rotation commands' CLI contract: help, exit codes, one-line errors, nothing changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
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


@pytest.mark.parametrize("command", ["rotate-root", "rotate-signer-key"])
def test_plan_is_the_documented_name(command: str) -> None:
    result = CliRunner().invoke(main, [command, "--help"])
    assert "--plan" in result.output
    assert "--dry-run" not in result.output  # the old name still works, unlisted


@pytest.mark.parametrize("flag", ["--plan", "--dry-run"])
@pytest.mark.parametrize("command", [["rotate-root", "--target", "native"], ["rotate-signer-key"]])
def test_both_spellings_are_accepted(env: dict[str, str], command: list[str], flag: str) -> None:
    # No .env here: a known option reaches the settings, which name the missing file.
    result = CliRunner().invoke(main, [*command, flag], env=env)
    assert result.exit_code == 2
    assert "does not exist" in result.stderr and "No such option" not in result.stderr


def _faulty_cli(fault: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness.faulty_cli", *args],
        cwd=Path(__file__).resolve().parents[2],  # harness is not installed: run from the checkout
        env={**env, "MINIO_STACK_TEST_FAULT": fault},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_fault_entry_point_runs_the_rotation_commands(env: dict[str, str]) -> None:
    result = _faulty_cli("fail:apply", env, "rotate-root", "--target", "native")
    assert result.returncode == 2 and "does not exist" in result.stderr  # the normal settings
    bad = _faulty_cli("explode:apply", env, "rotate-root", "--target", "native")
    assert bad.returncode == 2
    assert bad.stderr.startswith("Error: MINIO_STACK_TEST_FAULT: 'explode:apply'")
