"""The real parts under test: a MinIO on free loopback ports, the environment bootstrap and
the signer read, and the signer itself as a ``minio-stack signer serve`` subprocess."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.monitor import wait_for
from harness.minio_server import MinioServer, free_port
from harness.processes import answers_ok, log_tail, start_answering, stop_process

ROOT = Path(__file__).resolve().parent.parent
MINIO_STACK = Path(sys.executable).parent / "minio-stack"
BUCKET = "bench-uploads"
START_TIMEOUT = 60.0
STOP_GRACE = 15.0
# The shipped default (20/s per token) would refuse a load test; the limiter still runs.
RATE_LIMIT_OFF_IN_PRACTICE = "1000000,1000000"
_OWN_PREFIXES = ("MINIO_", "SIGNER_", "S3_", "BOOTSTRAP_", "CORS_", "MULTIPART_")


def child_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any stack variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update(extra)
    return env


def start_minio(workdir: Path, name: str = "minio") -> MinioServer:
    return MinioServer(data_dir=workdir / f"{name}-data", log_path=workdir / f"{name}.log").start(
        timeout=START_TIMEOUT
    )


@dataclass(frozen=True)
class Identity:
    access_key: str = field(default_factory=lambda: "bench-signer-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(30), repr=False)


def bootstrap_env(minio: MinioServer, signer: Identity) -> dict[str, str]:
    return child_env(
        {
            "MINIO_ENDPOINT": minio.endpoint,
            "MINIO_ROOT_USER": minio.access_key,
            "MINIO_ROOT_PASSWORD": minio.secret_key,
            "MINIO_BUCKET": BUCKET,
            "CORS_ALLOWED_ORIGINS": "http://127.0.0.1:5173",
            "SIGNER_ACCESS_KEY": signer.access_key,
            "SIGNER_SECRET_KEY": signer.secret_key,
            "BOOTSTRAP_TIMEOUT": "60s",
        }
    )


class SignerProcess:
    """``minio-stack signer serve`` on a free 127.0.0.1 port; ``.url``, ``.pid``, ``.token``."""

    def __init__(self, minio: MinioServer, signer: Identity, workdir: Path, workers: int) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.token = secrets.token_hex(24)
        self.workers = workers
        self.log_path = workdir / f"signer-{workers}w-{self.port}.log"
        self.env = child_env(
            {
                "SIGNER_S3_ENDPOINT": minio.endpoint,
                "SIGNER_ACCESS_KEY": signer.access_key,
                "SIGNER_SECRET_KEY": signer.secret_key,
                "MINIO_BUCKET": BUCKET,
                "SIGNER_API_TOKENS": self.token,
                "SIGNER_TOKEN_SECRETS": secrets.token_hex(32),
                "SIGNER_LISTEN": f"127.0.0.1:{self.port}",
                "SIGNER_RATE_LIMIT": RATE_LIMIT_OFF_IN_PRACTICE,
                "SIGNER_WORKERS": str(workers),
            }
        )
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise RuntimeError("the signer is not running")
        return self.proc.pid

    def start(self) -> SignerProcess:
        if not MINIO_STACK.exists():
            raise RuntimeError(f"{MINIO_STACK} is missing: run `make install` first")
        self.proc = proc = start_answering(
            [str(MINIO_STACK), "signer", "serve"],
            self.log_path,
            lambda: answers_ok(f"{self.url}/healthz"),
            what="the signer",
            timeout=START_TIMEOUT,
            env=self.env,
            cwd=ROOT,
        )
        # Worker processes answer /healthz one by one; give every worker a moment to start.
        if self.workers > 1:
            wait_for(lambda: len(_children(proc.pid)) >= self.workers, START_TIMEOUT)
            time.sleep(1.0)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace=STOP_GRACE, kill_group=True)

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def __enter__(self) -> SignerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _children(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []
