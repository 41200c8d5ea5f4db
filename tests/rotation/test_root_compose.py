"""rotate-root --target compose: a contract test of the Docker Compose path.

No Docker engine exists here, so `docker` on PATH is tests/rotation/fake_docker.py: the rotation
runs it as a real subprocess, and it records the command line and recreates "the minio
service" (the real MinIO binary) with the credentials the rewritten .env holds. What is
checked for real: the .env rewrite (atomic, 0600, timestamped 0600 backup, other lines
untouched), the exact `docker compose` command, and MinIO's answers before and after.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from dotenv import dotenv_values

from bootstrap import settings as bootstrap_settings
from bootstrap.converge import run as converge
from bootstrap.health import wait_ready
from bootstrap.settings import Credentials
from harness.minio_server import MINIO_BINARY, ROOT, free_port
from tests.native_stack import LocalStack, clean_environ
from tests.rotation.stack import mode, refusal

pytestmark = pytest.mark.skipif(not MINIO_BINARY.exists(), reason="run make minio first")


FAKE_DOCKER = (
    f'#!/bin/sh\nexec {sys.executable} {Path(__file__).with_name("fake_docker.py")} "$@"\n'
)


class Compose(LocalStack):
    run_timeout: ClassVar[float] = 180

    @property
    def state(self) -> Path:
        return self.home / "docker"

    def calls(self) -> list[list[str]]:
        return [json.loads(line) for line in (self.state / "calls.jsonl").read_text().splitlines()]

    def up(self, *services: str) -> list[str]:
        """The one Compose call that recreates ``services``, as rotation must make it."""
        compose_file = str(ROOT / "docker-compose.yaml")
        env_file = str(self.env_file)
        return ["compose", "-f", compose_file, "--env-file", env_file, "up", "--detach", *services]


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Compose]:
    tmp_path = tmp_path_factory.mktemp("compose")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    docker = bin_dir / "docker"
    docker.write_text(FAKE_DOCKER)
    docker.chmod(0o755)
    env = clean_environ()
    env.update(
        PATH=f"{bin_dir}:{env.get('PATH', '')}",
        PYTHONPATH=str(ROOT),
        STACK_ENV_FILE=str(tmp_path / ".env"),
        STACK_API_PORT=str(free_port()),
        FAKE_DOCKER_STATE=str(tmp_path / "docker"),
        FAKE_DOCKER_MINIO=str(MINIO_BINARY),
        FAKE_DOCKER_CONSOLE_PORT=str(free_port()),
    )
    c = Compose(tmp_path, env)
    c.state.mkdir()
    assert c.run("env-init").returncode == 0
    # `docker compose up --detach minio` the first time, then bootstrap as the entrypoint would.
    subprocess.run(
        ["docker", "compose", "--env-file", str(c.env_file), "up", "--detach", "minio"],
        env=env,
        check=True,
    )
    wait_ready(c.server.endpoint, 60)
    config = c.config()
    config["MINIO_ENDPOINT"] = c.server.endpoint
    assert converge(bootstrap_settings.load(config)).exit_code == 0
    yield c
    with contextlib.suppress(OSError, ValueError):
        os.kill(int((c.state / "minio.pid").read_text()), signal.SIGKILL)


def test_rotation_rewrites_env_and_runs_compose_up_for_minio(compose: Compose) -> None:
    old = compose.root()
    text_before = compose.env_file.read_text()
    calls_before = len(compose.calls())
    backups_before = set(compose.home.glob(".env.bak-*"))

    result = compose.run("rotate-root", "--target", "compose", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["ok"]
    # The contract: exactly one Compose call, recreating only the minio service.
    assert compose.calls()[calls_before:] == [compose.up("minio")]
    new = compose.root()
    assert new.secret_key != old.secret_key
    assert mode(compose.env_file) == 0o600
    # Only the password line changed; comments and every other line are as they were.
    changed = [
        (a, b)
        for a, b in zip(
            text_before.splitlines(), compose.env_file.read_text().splitlines(), strict=True
        )
        if a != b
    ]
    assert changed == [
        (f"MINIO_ROOT_PASSWORD={old.secret_key}", f"MINIO_ROOT_PASSWORD={new.secret_key}")
    ]
    (backup,) = set(compose.home.glob(".env.bak-*")) - backups_before
    assert mode(backup) == 0o600 and backup.read_text() == text_before
    assert not list(compose.home.glob(".*.tmp"))  # the temp file was renamed, not left
    assert refusal(compose.server, old) == "SignatureDoesNotMatch"
    assert refusal(compose.server, new) is None


def test_root_credentials_exported_in_the_shell_do_not_win_over_the_rewritten_env(
    compose: Compose,
) -> None:
    # An operator who ran `set -a; . ./.env` has the old password in the shell. Compose would
    # interpolate that over --env-file's, so MinIO would come back with the old password.
    old = compose.root()
    shell = {"MINIO_ROOT_USER": old.access_key, "MINIO_ROOT_PASSWORD": old.secret_key}

    result = compose.run("rotate-root", "--target", "compose", **shell)

    assert result.returncode == 0, result.stderr
    new = compose.root()
    assert new.secret_key != old.secret_key
    assert refusal(compose.server, old) == "SignatureDoesNotMatch"
    assert refusal(compose.server, new) is None


def test_a_failing_compose_command_rolls_back(compose: Compose) -> None:
    old = compose.root()
    # The fake docker, like a real one whose engine is gone, exits non-zero for this call.
    docker = compose.home / "bin" / "docker"
    docker.write_text("#!/bin/sh\nexit 17\n")
    try:
        result = compose.run("rotate-root", "--target", "compose")
    finally:
        docker.write_text(FAKE_DOCKER)

    assert result.returncode == 1
    assert "at step restart" in result.stderr and "exit 17" in result.stderr
    assert "rolled back" in result.stderr
    assert compose.root() == old  # .env holds the old credentials again
    assert refusal(compose.server, old) is None


def test_signer_key_rotation_recreates_minio_and_signer(compose: Compose) -> None:
    before = dotenv_values(compose.env_file)
    calls_before = len(compose.calls())

    # --overlap 0: switch and revoke in one run (what an operator does after a leak).
    result = compose.run("rotate-signer-key", "--target", "compose", "--overlap", "0", "--json")

    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    steps = [s["step"] for s in report["steps"]]
    assert steps[-2:] == ["revoke", "verify-revoked"]
    assert compose.calls()[calls_before:] == [compose.up("minio", "signer")]
    after = dotenv_values(compose.env_file)
    assert after["SIGNER_ACCESS_KEY"] == f"{before['SIGNER_ACCESS_KEY']}-g2"
    assert after["SIGNER_SECRET_KEY"] != before["SIGNER_SECRET_KEY"]
    old = Credentials(before["SIGNER_ACCESS_KEY"] or "", before["SIGNER_SECRET_KEY"] or "")
    new = Credentials(after["SIGNER_ACCESS_KEY"] or "", after["SIGNER_SECRET_KEY"] or "")
    assert refusal(compose.server, old) == "InvalidAccessKeyId"
    assert refusal(compose.server, new) is None
    assert not (compose.home / ".env.signer-key.json").exists()
