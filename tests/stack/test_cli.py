"""`minio-stack up`, `down`, `env-init`: help, exit codes, machine output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from minio_stack.cli import main
from stack.cli import COMMANDS


@pytest.mark.parametrize("name", [c.name for c in COMMANDS])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(name: str, flag: str) -> None:
    result = CliRunner().invoke(main, [name, flag])
    assert result.exit_code == 0
    assert "Exit codes" in result.output


def test_every_command_is_on_the_root_group() -> None:
    assert {c.name for c in COMMANDS} == {"up", "down", "env-init"}
    assert all(main.get_command(None, c.name) is c for c in COMMANDS)  # type: ignore[arg-type]


def test_env_init_json_and_idempotence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_ENV_FILE", str(tmp_path / "my.env"))
    first = CliRunner().invoke(main, ["env-init", "--json"])
    assert first.exit_code == 0, first.output
    doc = json.loads(first.stdout)
    assert doc["created"] is True and doc["path"] == str(tmp_path / "my.env")
    assert "MINIO_ROOT_PASSWORD" in doc["generated"]
    again = CliRunner().invoke(main, ["env-init"])
    assert again.exit_code == 0 and "left as it is" in again.stdout


def test_bad_stack_setting_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACK_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("STACK_API_PORT", "99999")
    result = CliRunner().invoke(main, ["up", "--mode", "native"])
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ") and "STACK_API_PORT" in result.stderr
    assert not (tmp_path / ".env").exists()  # nothing changed


def test_unknown_mode_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["up", "--mode", "kubernetes"])
    assert result.exit_code == 2
