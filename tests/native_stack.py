"""A test stack in a temp dir, driven as an operator and a client would: the CLI, .env, HTTP.

Each stack gets its own ports (STACK_*_PORT), data dir and .env in its home, so it never meets
a developer's running stack. A fresh home is what a fresh clone looks like to `up`: no .env,
no data.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import psutil
import requests
from dotenv import dotenv_values

from bootstrap.settings import Credentials
from harness.faulty_cli import FAULT_VARIABLE
from harness.minio_server import ROOT
from harness.processes import free_port, free_port_block
from rotation.checks import Server
from stack.envfile import fill_secrets
from stack.plan import NODE_API_OFFSET, NODE_CONSOLE_OFFSET, Tools
from stack.settings import StackSettings, load

CLI = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "minio-stack"
if not CLI.exists():
    CLI = ROOT / ".venv" / "bin" / "minio-stack"
# The rotation commands with a test-only fault hook (harness/faulty_cli.py).
FAULTY_CLI = (sys.executable, "-m", "harness.faulty_cli")

# A developer's own settings must not leak into a test stack.
STACK_ENV_PREFIXES = ("STACK_", "MINIO_", "SIGNER_", "RENDER_", "ROTATION_")


def clean_environ() -> dict[str, str]:
    """This process's environment without any stack settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(STACK_ENV_PREFIXES)}


def native_env(home: Path, api_port: int | None = None) -> dict[str, str]:
    """The environment of a native stack living in ``home``, every port free."""
    env = clean_environ()
    env.update(
        STACK_ENV_FILE=str(home / ".env"),
        STACK_DATA_DIR=str(home / "data"),
        STACK_API_PORT=str(api_port or free_port()),
        STACK_CONSOLE_PORT=str(free_port()),
        STACK_SIGNER_PORT=str(free_port()),
        STACK_MINIO_CONSOLE_PORT=str(free_port()),
    )
    return env


def api_port_for_nodes(nodes: int) -> int:
    """A STACK_API_PORT whose node ports (+101.., +201.., stack/plan.py) are free too, all
    handed out: no other test server of this run is given one of them."""
    offsets = [o + i for o in (NODE_API_OFFSET, NODE_CONSOLE_OFFSET) for i in range(1, nodes + 1)]
    return free_port_block(offsets)


def alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@dataclass
class LocalStack:
    home: Path
    env: dict[str, str]
    run_timeout: ClassVar[float] = 240

    @property
    def env_file(self) -> Path:
        return self.home / ".env"

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    def url(self, which: str) -> str:
        return f"http://127.0.0.1:{self.env[f'STACK_{which}_PORT']}"

    @property
    def server(self) -> Server:
        return Server(self.url("API"), "us-east-1")

    def run(
        self, *args: str, timeout: float | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """The shipped `minio-stack` command, as an operator runs it."""
        return self._run([str(CLI), *args], self.home, timeout, extra)

    def run_with_fault(
        self, fault: str, *args: str, timeout: float | None = None, **extra: str
    ) -> subprocess.CompletedProcess[str]:
        """A rotation command through harness/faulty_cli.py, with MINIO_STACK_TEST_FAULT=fault."""
        # From the checkout: `python -m` finds harness there (it is not installed, never shipped).
        return self._run([*FAULTY_CLI, *args], ROOT, timeout, {**extra, FAULT_VARIABLE: fault})

    def _run(
        self, command: Sequence[str], cwd: Path, timeout: float | None, extra: dict[str, str]
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            list(command),
            cwd=cwd,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=self.run_timeout if timeout is None else timeout,
        )

    def config(self) -> dict[str, str]:
        return {k: v or "" for k, v in dotenv_values(self.env_file).items()}

    def root(self) -> Credentials:
        c = self.config()
        return Credentials(c["MINIO_ROOT_USER"], c["MINIO_ROOT_PASSWORD"])

    def _auth(self) -> dict[str, str]:
        token = self.config()["SIGNER_API_TOKENS"].split(",")[0]
        return {"Authorization": f"Bearer {token}"}

    def upload_via_signer(self, body: bytes, *, signed_for: str | None = None) -> str:
        """Presign, PUT, complete: the client flow. Returns the object key.

        ``signed_for``: the API URL the presigned URL must point at.
        """
        signer = self.url("SIGNER")
        resp = requests.post(
            f"{signer}/v1/uploads/presign",
            json={"content_type": "text/plain", "size_bytes": len(body)},
            headers=self._auth(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        intent = resp.json()
        upload = intent["upload"]
        if signed_for is not None:
            assert upload["url"].startswith(signed_for + "/")
        put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=10)
        assert put.status_code == 200, put.text
        done = self._complete(signer, intent["intent_token"])
        assert done.status_code == 200, done.text
        return intent["object_key"]

    def _complete(self, signer: str, intent_token: str) -> requests.Response:
        """complete, retried as the contract tells a client to: a storage_denied answer with
        retry_after_seconds (a distributed MinIO just started can answer 502/503 through its
        balancer for a moment) is tried again, at most three times in all."""
        for attempt in range(3):
            done = requests.post(
                f"{signer}/v1/uploads/complete",
                json={"intent_token": intent_token},
                headers=self._auth(),
                timeout=30,
            )
            retry = done.json().get("retry_after_seconds") if done.status_code == 502 else None
            if retry is None or attempt == 2:
                return done
            time.sleep(min(float(retry), 5.0))
        raise AssertionError("unreachable")

    def download_url(self, key: str) -> str:
        """A presigned GET URL from the running signer."""
        resp = requests.post(
            f"{self.url('SIGNER')}/v1/downloads/presign",
            json={"object_key": key},
            headers=self._auth(),
            timeout=10,
        )
        assert resp.status_code == 200, resp.text
        return resp.json()["url"]

    def download(self, key: str) -> requests.Response:
        return requests.get(self.download_url(key), timeout=10)

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
        return [p for p in found.values() if alive(p)]

    def tear_down(self) -> None:
        """`down`, then SIGKILL whatever is left: never leave a stack behind, even after a
        failed test."""
        self.run("down", "--mode", "native", timeout=60)
        for proc in self.processes():
            proc.send_signal(signal.SIGKILL)


# --- what `up` would run, without running it ------------------------------------------------

TOOLS = Tools(
    minio=Path("/x/minio"),
    minio_stack=Path("/x/minio-stack"),
    python=Path("/x/python"),
    nginx=Path("/usr/sbin/nginx"),
    worker_user=None,
)


def plan_settings(tmp_path: Path, **environ: str) -> StackSettings:
    return load({"STACK_DATA_DIR": str(tmp_path / "data"), **environ}, {})


def example_config() -> dict[str, str]:
    """What .env holds after `env-init`: the example with its secrets generated."""
    text, _ = fill_secrets((ROOT / ".env.example").read_text())
    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v}
