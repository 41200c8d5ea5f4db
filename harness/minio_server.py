"""A real MinIO server, built from the pinned source, on free 127.0.0.1 ports.

Used by the pytest fixtures in conftest.py. Nothing here is a mock: each instance is the
``.cache/bin/minio`` binary that ``make minio`` builds, with its own temp data dir, random
root credentials and, as the kit deploys it, a KMS key of its own (``kms_key=""``: a MinIO
without a KMS).
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from minio.credentials.providers import StaticProvider

from bootstrap.health import wait_ready
from bootstrap.settings import KMS_KEY_VAR, generate_kms_key
from harness.processes import (
    LoopbackHTTP,
    free_port,
    kill_process,
    log_tail,
    start_logged,
    stop_process,
)
from minio import Minio, MinioAdmin

# free_port is re-exported: many tests and bench/ import it from here.
__all__ = ["MINIO_BINARY", "ROOT", "MinioServer", "free_port"]

ROOT = Path(__file__).resolve().parent.parent
MINIO_BINARY = Path(os.environ.get("MINIO_BINARY", ROOT / ".cache" / "bin" / "minio"))


@dataclass
class MinioServer(LoopbackHTTP):
    data_dir: Path
    log_path: Path
    access_key: str = field(default_factory=lambda: "root-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    api_port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    kms_key: str = field(default_factory=generate_kms_key, repr=False)
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def console_url(self) -> str:
        return f"http://127.0.0.1:{self.console_port}"

    def command(self) -> list[str]:
        return [
            str(MINIO_BINARY),
            "server",
            str(self.data_dir),
            "--address",
            self.host,
            "--console-address",
            f"127.0.0.1:{self.console_port}",
        ]

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_UPDATE="off",
        )
        if self.kms_key:
            env[KMS_KEY_VAR] = self.kms_key
        env.update(self.extra_env)
        return env

    def start(self, wait: bool = True, timeout: float = 60) -> MinioServer:
        if not MINIO_BINARY.exists():
            raise RuntimeError(f"{MINIO_BINARY} is missing: run `make minio` first")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.proc = start_logged(self.command(), self.log_path, env=self.env())
        if wait:
            try:
                wait_ready(self.endpoint, timeout)
            except Exception:
                self.stop()
                raise
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a bound. Returns the exit code."""
        proc, self.proc = self.proc, None
        return stop_process(proc)

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        kill_process(proc)

    def restart(self, wait: bool = True, timeout: float = 60) -> MinioServer:
        self.stop()
        return self.start(wait=wait, timeout=timeout)

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def client(self, access_key: str | None = None, secret_key: str | None = None) -> Minio:
        return Minio(
            self.host,
            access_key=access_key or self.access_key,
            secret_key=secret_key or self.secret_key,
            secure=False,
            region="us-east-1",
        )

    def admin(self) -> MinioAdmin:
        return MinioAdmin(
            endpoint=self.host,
            credentials=StaticProvider(self.access_key, self.secret_key),
            secure=False,
        )
