"""`minio-stack up` / `down` natively, end to end: the real CLI, MinIO, signer and nginx.

Each test stack (tests/native_stack.py) lives in its own temp dir on its own ports: a fresh
clone, as `up` sees it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from harness.minio_server import MINIO_BINARY
from tests.console.nginx_proxy import NGINX
from tests.native_stack import LocalStack, alive, native_env

pytestmark = [
    pytest.mark.skipif(not NGINX.exists(), reason=f"{NGINX} not installed (apt-get install nginx)"),
    pytest.mark.skipif(not MINIO_BINARY.exists(), reason=f"{MINIO_BINARY} missing: run make minio"),
]

SECRETS = ("MINIO_ROOT_PASSWORD", "SIGNER_SECRET_KEY", "SIGNER_API_TOKENS", "SIGNER_TOKEN_SECRETS")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    s = LocalStack(tmp_path, native_env(tmp_path))
    yield s
    s.tear_down()


def test_up_down_up_keeps_the_object_and_leaves_nothing_behind(stack: LocalStack) -> None:
    first = stack.run("up", "--mode", "native")
    assert first.returncode == 0, first.stderr + first.stdout

    # It prints where everything is, and where the credentials are, never the credentials.
    for which in ("API", "CONSOLE", "SIGNER"):
        assert stack.url(which) in first.stdout
    assert "Bucket:       uploads" in first.stdout
    assert str(stack.env_file) in first.stdout
    config = stack.config()
    for name in SECRETS:
        assert config[name], f"{name} was not generated"
        assert config[name] not in first.stdout + first.stderr
    assert "minioadmin" not in stack.env_file.read_text()
    assert stat.S_IMODE(stack.env_file.stat().st_mode) == 0o600

    # Every printed URL answers.
    assert requests.get(stack.url("API") + "/minio/health/live", timeout=5).status_code == 200
    assert requests.get(stack.url("SIGNER") + "/healthz", timeout=5).status_code == 200
    assert requests.get(stack.url("CONSOLE") + "/healthz", timeout=5).status_code == 200
    console = requests.get(stack.url("CONSOLE") + "/", timeout=5)
    assert console.status_code == 200 and "MinIO Console" in console.text
    # The API URL sends a browser to the console (MINIO_BROWSER_REDIRECT_URL), not to :9001.
    browser = requests.get(
        stack.url("API") + "/",
        headers={"User-Agent": "Mozilla/5.0"},
        allow_redirects=False,
        timeout=5,
    )
    assert browser.status_code in (303, 307)
    assert browser.headers["Location"].startswith(stack.url("CONSOLE"))

    # The URL is signed for the API the stack printed: the client goes there, not to the signer.
    key = stack.upload_via_signer(b"kept across down/up\n", signed_for=stack.url("API"))
    assert stack.download(key).content == b"kept across down/up\n"

    again = stack.run("up", "--mode", "native")
    assert again.returncode == 0 and "already up" in again.stdout

    running = stack.processes()
    assert len(running) >= 5  # supervisor, entrypoint, minio, signer, nginx (+ workers)
    down = stack.run("down", "--mode", "native", timeout=60)
    assert down.returncode == 0, down.stderr
    assert "down" in down.stdout and "had to kill" not in down.stdout
    assert [p for p in running if alive(p)] == []
    assert stack.processes() == []

    env_before = stack.env_file.read_text()
    second = stack.run("up", "--mode", "native")
    assert second.returncode == 0, second.stderr + second.stdout
    assert stack.env_file.read_text() == env_before  # never overwritten
    assert stack.download(key).content == b"kept across down/up\n"


def test_down_when_not_running_says_so(stack: LocalStack) -> None:
    result = stack.run("down", "--mode", "native")
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_bad_config_is_refused_before_anything_starts(stack: LocalStack) -> None:
    assert stack.run("env-init").returncode == 0
    text = stack.env_file.read_text()
    text = text.replace("MINIO_BUCKET=uploads", "MINIO_BUCKET=Not_A_Bucket")
    text += "SIGNER_API_TOKENS_FILE=/nonexistent/tokens\n"
    stack.env_file.write_text(text)
    result = stack.run("up", "--mode", "native")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert "MINIO_BUCKET" in result.stderr and "SIGNER_API_TOKENS" in result.stderr
    assert not (stack.data_dir / "stack.pid").exists()
    assert stack.processes() == []


def test_every_bad_setting_is_listed_at_once(stack: LocalStack) -> None:
    # One of each kind, so none can hide another: a port clash among STACK_*, a port in use,
    # and a bad setting of each program (bootstrap's, the signer's, the console's).
    assert stack.run("env-init").returncode == 0
    text = stack.env_file.read_text().replace("MINIO_BUCKET=uploads", "MINIO_BUCKET=Not_A_Bucket")
    text += "SIGNER_API_TOKENS_FILE=/nonexistent/tokens\nCONSOLE_TRUSTED_PROXIES=render\n"
    stack.env_file.write_text(text)
    stack.env["STACK_MINIO_CONSOLE_PORT"] = stack.env["STACK_CONSOLE_PORT"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(stack.env["STACK_SIGNER_PORT"])))
        taken.listen()
        result = stack.run("up", "--mode", "native")
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: invalid configuration: ")
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    console_port, signer_port = stack.env["STACK_CONSOLE_PORT"], stack.env["STACK_SIGNER_PORT"]
    for named in (
        f"STACK_MINIO_CONSOLE_PORT: port {console_port} is also STACK_CONSOLE_PORT",
        "MINIO_BUCKET (in .env)",
        "SIGNER_API_TOKENS (in .env): set both SIGNER_API_TOKENS and SIGNER_API_TOKENS_FILE",
        "CONSOLE_TRUSTED_PROXIES (in .env): 'render' is not an IP address",
        f"STACK_SIGNER_PORT: port {signer_port} on 127.0.0.1 is in use",
    ):
        assert named in result.stderr, named
    assert not stack.data_dir.exists()  # nothing written, nothing started
    assert stack.processes() == []


def test_a_busy_port_is_named(stack: LocalStack) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(stack.env["STACK_SIGNER_PORT"])))
        taken.listen()
        result = stack.run("up", "--mode", "native")
    assert result.returncode == 2
    assert "STACK_SIGNER_PORT" in result.stderr and "in use" in result.stderr
    assert stack.processes() == []


def test_a_stack_that_dies_while_starting_is_cleaned_up(stack: LocalStack) -> None:
    # A value only MinIO itself checks: it exits at start, honcho stops the rest, `up` says why.
    assert stack.run("env-init").returncode == 0
    with stack.env_file.open("a") as out:
        out.write("MINIO_BROWSER=maybe\n")
    result = stack.run("up", "--mode", "native", "--timeout", "120")
    assert result.returncode == 1, result.stderr
    assert "Error: the stack stopped while starting" in result.stderr
    assert "MINIO_BROWSER" in result.stderr  # the log's last lines, shown above the error
    assert stack.processes() == []
    assert not (stack.data_dir / "stack.pid").exists()


def test_down_cleans_up_after_a_killed_process_manager(stack: LocalStack) -> None:
    up = stack.run("up", "--mode", "native")
    assert up.returncode == 0, up.stderr
    running = stack.processes()  # includes honcho's helpers, children of the manager
    manager = int((stack.data_dir / "stack.pid").read_text())
    os.kill(manager, signal.SIGKILL)
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(manager).wait(10)
    down = stack.run("down", "--mode", "native", timeout=60)
    assert down.returncode == 0, down.stderr
    assert "had to kill" in down.stdout
    assert [p for p in running if alive(p)] == []
    assert stack.processes() == []
