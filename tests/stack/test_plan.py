"""stack/native.py and stack_settings.py: what `up` would run, without running it."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.minio_server import ROOT
from stack import native
from stack.settings import load
from tests.native_stack import TOOLS, example_config, plan_settings


def test_defaults_and_precedence(tmp_path: Path) -> None:
    s = load({}, {})
    assert (s.api_port, s.console_port, s.signer_port, s.minio_console_port) == (
        9000,
        9090,
        8080,
        9001,
    )
    assert s.data_dir == ROOT / ".data" and s.env_file == ROOT / ".env"
    # The shell wins over .env, .env over the defaults (Compose's interpolation order).
    s = load({"STACK_API_PORT": "9100"}, {"STACK_API_PORT": "9200", "STACK_SIGNER_PORT": "8181"})
    assert (s.api_port, s.signer_port) == (9100, 8181)


def test_bad_and_clashing_ports_are_all_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load({"STACK_API_PORT": "http", "STACK_SIGNER_PORT": "9090"}, {})
    assert [name for name, _ in info.value.problems] == ["STACK_API_PORT", "STACK_SIGNER_PORT"]


def test_each_process_gets_only_its_share(tmp_path: Path) -> None:
    config = example_config()
    inherited = {
        "PATH": "/usr/bin",
        "HOME": "/home/dev",
        "MINIO_ROOT_PASSWORD": "from-the-shell",
        "PORT": "1",
        "SIGNER_S3_ENDPOINT": "http://elsewhere:1",
    }
    minio, signer, console = native.plan(plan_settings(tmp_path), config, inherited, TOOLS)
    assert minio.env["PATH"] == "/usr/bin"
    # .env is the configuration: the shell's MINIO_*/SIGNER_*/PORT never leak in.
    assert minio.env["MINIO_ROOT_PASSWORD"] == config["MINIO_ROOT_PASSWORD"]
    assert signer.env["SIGNER_S3_ENDPOINT"] == "http://127.0.0.1:9000"
    assert console.env["PORT"] == "9090"
    # The signer never sees the root password; MinIO never sees the signer's API tokens.
    assert "MINIO_ROOT_PASSWORD" not in signer.env
    assert "SIGNER_API_TOKENS" not in minio.env and "SIGNER_TOKEN_SECRETS" not in minio.env
    # Bootstrap creates the signer's identity, so MinIO's process has it.
    assert minio.env["SIGNER_SECRET_KEY"] == signer.env["SIGNER_SECRET_KEY"]
    assert minio.env["MINIO_BROWSER_REDIRECT_URL"] == "http://127.0.0.1:9090"
    assert minio.env["MINIO_SERVER_URL"] == "http://127.0.0.1:9000"
    assert set(console.env) - {"PATH", "HOME"} == {
        "PORT",
        "CONSOLE_UPSTREAM_HOST",
        "CONSOLE_UPSTREAM_PORT",
    }


def test_commands_are_the_images_commands(tmp_path: Path) -> None:
    s = plan_settings(tmp_path, STACK_API_PORT="9300", STACK_MINIO_CONSOLE_PORT="9301")
    minio, signer, console = native.plan(s, example_config(), {}, TOOLS)
    assert minio.argv[:3] == ("/x/minio-stack", "entrypoint", "--")
    assert minio.argv[3:] == (
        "/x/minio",
        "server",
        str(tmp_path / "data" / "minio"),
        "--address",
        "127.0.0.1:9300",
        "--console-address",
        "127.0.0.1:9301",
    )
    assert signer.argv == ("/x/minio-stack", "signer", "serve")
    assert "console.render" in console.argv and "daemon off;" in console.argv
    assert minio.command.startswith("exec ")
    procfile = native.procfile((minio, signer, console))
    assert "console: exec /x/python -m console.render" in procfile
    assert "PASSWORD" not in procfile and "SECRET" not in procfile  # no environment in it


def test_validate_reports_every_programs_problems_at_once(tmp_path: Path) -> None:
    config = example_config()
    config.update(MINIO_BUCKET="No", SIGNER_API_TOKENS="short", CONSOLE_MAX_BODY_SIZE="huge")
    s = plan_settings(tmp_path)
    processes = native.plan(s, config, {}, TOOLS)
    with pytest.raises(ConfigError) as info:
        native.validate(processes, s)
    names = {name.split()[0] for name, _ in info.value.problems}
    assert {"MINIO_BUCKET", "SIGNER_API_TOKENS", "CONSOLE_MAX_BODY_SIZE"} <= names


def test_the_example_config_is_valid_for_all_three(tmp_path: Path) -> None:
    s = plan_settings(tmp_path)
    native.validate(native.plan(s, example_config(), {}, TOOLS), s)
