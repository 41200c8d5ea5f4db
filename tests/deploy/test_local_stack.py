"""`minio-stack up` / `down` natively, end to end: the real CLI, MinIO, signer and nginx.

Each test stack gets its own ports (STACK_*_PORT), data dir and .env in a temp dir, so it
never meets a developer's running stack. A fresh temp dir is what a fresh clone looks like
to `up`: no .env, no data.
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
import requests
from dotenv import dotenv_values

from tests.deploy.nginx_proxy import NGINX
from tests.minio_server import MINIO_BINARY, ROOT, free_port

pytestmark = [
    pytest.mark.skipif(not NGINX.exists(), reason=f"{NGINX} not installed (apt-get install nginx)"),
    pytest.mark.skipif(not MINIO_BINARY.exists(), reason=f"{MINIO_BINARY} missing: run make minio"),
]

CLI = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "minio-stack"
if not CLI.exists():
    CLI = ROOT / ".venv" / "bin" / "minio-stack"
SECRETS = ("MINIO_ROOT_PASSWORD", "SIGNER_SECRET_KEY", "SIGNER_API_TOKENS", "SIGNER_TOKEN_SECRETS")


@dataclass
class Stack:
    home: Path
    env: dict[str, str]

    @property
    def env_file(self) -> Path:
        return self.home / ".env"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def url(self, which: str) -> str:
        return f"http://127.0.0.1:{self.env[f'STACK_{which}_PORT']}"

    def run(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CLI), *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def config(self) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(self.env_file).items()}

    def processes(self) -> list[psutil.Process]:
        """Every live process of this stack: the supervisor, its tree, and the recorded pids."""
        pids: set[int] = set()
        for name in ("stack.pid", "stack.pids"):
            path = self.data_dir / name
            if path.exists():
                pids |= {int(line.split()[-1]) for line in path.read_text().splitlines() if line}
        found: dict[int, psutil.Process] = {}
        for pid in pids:
            try:
                proc = psutil.Process(pid)
                found[pid] = proc
                found.update({child.pid: child for child in proc.children(recursive=True)})
            except psutil.NoSuchProcess:
                continue
        for proc in psutil.process_iter(["cmdline"]):  # anything naming our temp dir
            if any(str(self.home) in arg for arg in proc.info["cmdline"] or ()):
                found[proc.pid] = proc
        return [p for p in found.values() if _running(p)]


def _running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("STACK_", "MINIO_", "SIGNER_"))}
    env.update(
        STACK_ENV_FILE=str(tmp_path / ".env"),
        STACK_DATA_DIR=str(tmp_path / "data"),
        STACK_API_PORT=str(free_port()),
        STACK_CONSOLE_PORT=str(free_port()),
        STACK_SIGNER_PORT=str(free_port()),
        STACK_MINIO_CONSOLE_PORT=str(free_port()),
    )
    s = Stack(tmp_path, env)
    yield s
    s.run("down", "--mode", "native", timeout=60)
    for proc in s.processes():  # never leave a stack behind, even when a test failed
        proc.send_signal(signal.SIGKILL)


def _presign_upload(stack: Stack, body: bytes) -> str:
    token = stack.config()["SIGNER_API_TOKENS"].split(",")[0]
    auth = {"Authorization": f"Bearer {token}"}
    signer = stack.url("SIGNER")
    resp = requests.post(
        f"{signer}/v1/uploads/presign",
        json={"content_type": "text/plain", "size_bytes": len(body)},
        headers=auth,
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    intent = resp.json()
    upload = intent["upload"]
    # The URL is signed for the API the stack printed: the client goes there, not to the signer.
    assert upload["url"].startswith(stack.url("API") + "/")
    put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
    assert put.status_code == 200, put.text
    done = requests.post(
        f"{signer}/v1/uploads/complete",
        json={"intent_token": intent["intent_token"]},
        headers=auth,
        timeout=10,
    )
    assert done.status_code == 200, done.text
    return intent["object_key"]


def _download(stack: Stack, key: str) -> requests.Response:
    token = stack.config()["SIGNER_API_TOKENS"].split(",")[0]
    resp = requests.post(
        f"{stack.url('SIGNER')}/v1/downloads/presign",
        json={"object_key": key},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return requests.get(resp.json()["url"], timeout=10)


def test_up_down_up_keeps_the_object_and_leaves_nothing_behind(stack: Stack) -> None:
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

    key = _presign_upload(stack, b"kept across down/up\n")
    assert _download(stack, key).content == b"kept across down/up\n"

    again = stack.run("up", "--mode", "native")
    assert again.returncode == 0 and "already up" in again.stdout

    running = stack.processes()
    assert len(running) >= 5  # supervisor, entrypoint, minio, signer, nginx (+ workers)
    down = stack.run("down", "--mode", "native", timeout=60)
    assert down.returncode == 0, down.stderr
    assert "down" in down.stdout and "had to kill" not in down.stdout
    assert [p for p in running if _running(p)] == []
    assert stack.processes() == []

    env_before = stack.env_file.read_text()
    second = stack.run("up", "--mode", "native")
    assert second.returncode == 0, second.stderr + second.stdout
    assert stack.env_file.read_text() == env_before  # never overwritten
    assert _download(stack, key).content == b"kept across down/up\n"


def test_down_when_not_running_says_so(stack: Stack) -> None:
    result = stack.run("down", "--mode", "native")
    assert result.returncode == 0
    assert "not running" in result.stdout


def test_bad_config_is_refused_before_anything_starts(stack: Stack) -> None:
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


def test_a_busy_port_is_named(stack: Stack) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(stack.env["STACK_SIGNER_PORT"])))
        taken.listen()
        result = stack.run("up", "--mode", "native")
    assert result.returncode == 2
    assert "STACK_SIGNER_PORT" in result.stderr and "in use" in result.stderr
    assert stack.processes() == []


def test_a_stack_that_dies_while_starting_is_cleaned_up(stack: Stack) -> None:
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


def test_down_cleans_up_after_a_killed_process_manager(stack: Stack) -> None:
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
    assert [p for p in running if _running(p)] == []
    assert stack.processes() == []
