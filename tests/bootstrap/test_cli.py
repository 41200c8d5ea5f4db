"""The bootstrap package's commands: --help everywhere, documented exit codes, one-line errors."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from bootstrap.cli import COMMANDS
from bootstrap.cli import main as bootstrap_main
from minio_stack.cli import main
from tests.bootstrap.conftest import env_for, runner_env


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help(command, flag):
    result = CliRunner().invoke(main, [command, flag], env=runner_env({}))
    assert result.exit_code == 0, result.output
    assert (
        f"Usage: minio-stack {command}" in result.output
        or f"Usage: minio-stack {command}" in result.output
    )
    assert "Exit codes: 0 ok" in result.output


@pytest.mark.parametrize("command", [c.name for c in COMMANDS])
def test_python_m_bootstrap_help_per_command(command):
    result = CliRunner().invoke(bootstrap_main, [command, "-h"], env=runner_env({}))
    assert result.exit_code == 0, result.output
    assert f"Usage: bootstrap {command}" in result.output
    assert "Exit codes: 0 ok" in result.output


def test_commands_registered():
    assert {"wait", "bootstrap", "entrypoint"} <= set(main.commands)


def test_bootstrap_config_error_json_and_one_line():
    env = env_for(
        None,
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD="root-password-1",
        CORS_ALLOWED_ORIGINS="https://a.example/path",
    )
    result = CliRunner().invoke(main, ["bootstrap", "--json"], env=runner_env(env))
    assert result.exit_code == 2
    doc = json.loads(result.stdout)
    assert doc["ok"] is False and "CORS_ALLOWED_ORIGINS" in doc["error"]
    assert result.stderr.count("\n") == 1 and result.stderr.startswith(
        "Error: invalid configuration"
    )


def test_bootstrap_unknown_option_exit_2():
    assert CliRunner().invoke(main, ["bootstrap", "--bogus"]).exit_code == 2


def test_entrypoint_needs_a_command():
    result = CliRunner().invoke(main, ["entrypoint"], env=runner_env({}))
    assert result.exit_code == 2
    assert "Missing argument 'COMMAND...'" in result.output


def test_entrypoint_config_error_before_starting(tmp_path):
    env = {"MINIO_ROOT_USER": "root-user", "MINIO_ROOT_PASSWORD": "short"}
    result = CliRunner().invoke(
        main, ["entrypoint", "--", "minio", "server", str(tmp_path)], env=runner_env(env)
    )
    assert result.exit_code == 2
    assert "MINIO_ROOT_PASSWORD: must be at least 8 characters" in result.stderr
    assert "MINIO_BUCKET: is required" in result.stderr


def test_entrypoint_unknown_executable(tmp_path):
    env = env_for(
        None,
        MINIO_ROOT_USER="root-user",
        MINIO_ROOT_PASSWORD="root-password-1",
        MINIO_KMS_SECRET_KEY="a-generated-secret-of-more-than-32-characters",
    )
    result = CliRunner().invoke(
        main,
        ["entrypoint", "--", "no-such-minio-binary", "server", str(tmp_path)],
        env=runner_env(env),
    )
    assert result.exit_code == 2
    assert "no-such-minio-binary" in result.stderr
