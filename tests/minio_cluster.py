"""A real distributed, erasure-coded MinIO: N processes of ``.cache/bin/minio`` on loopback.

Every node gets the same endpoint list and its own ``--address 127.0.0.1:Pi`` and
``--console-address 127.0.0.1:Qi``, with the same root credentials. The nodes form one pool
of one erasure set (4 nodes x 2 drives = 8 drives, MinIO's default parity EC:4), so a whole
node (two drives) can be lost without losing reads or writes.

Why the endpoints are listed one by one rather than with MinIO's ellipses: on one host, each
node's drives need their own paths (MinIO refuses the same path behind two ports of one
address), and ellipses expand as a cartesian product ({P1...P4} x d{1...2} gives every port
the same two paths). docker-compose.distributed.yaml, where each node is its own host, uses
the ellipsis form.

Two environment settings make loopback clusters work on any machine:
- ``MINIO_ROOTDRIVE_THRESHOLD_SIZE=1B``: test drives live on the root disk, which MinIO
  otherwise refuses in distributed mode ("drive is part of root drive"); with a threshold,
  only drives of at most that size count as root drives.
- ``_MINIO_SERVER_LOCAL=127.0.0.1:Pi``: inside a container (``/.dockerenv`` exists, as on CI
  machines) MinIO waits forever for loopback hosts to "resolve to a valid IP"; this names the
  node's own endpoints as local. Outside containers MinIO ignores it.
"""

from __future__ import annotations

import os
import pwd
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml
from minio.credentials import StaticProvider

from bootstrap.settings import generate_kms_key
from harness.minio_server import MINIO_BINARY, ROOT
from harness.processes import (
    LoopbackHTTP,
    free_port,
    free_port_block,
    kill_process,
    log_tail,
    start_logged,
    stop_process,
)
from minio import Minio, MinioAdmin


def consecutive_free_ports(count: int) -> int:
    """A base port such that base .. base+count-1 are all free on 127.0.0.1 (and handed out,
    so free_port never gives one of them to another server)."""
    return free_port_block(range(count))


@dataclass
class ClusterNode(LoopbackHTTP):
    index: int  # 1-based, as in the endpoint list
    api_port: int
    console_port: int
    data_dir: Path
    log_path: Path
    proc: subprocess.Popen | None = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def drives(self, count: int) -> list[Path]:
        return [self.data_dir / f"d{d}" for d in range(1, count + 1)]


@dataclass
class MinioCluster:
    base_dir: Path
    nodes_count: int = 4
    drives_per_node: int = 2
    access_key: str = field(default_factory=lambda: "root-" + secrets.token_hex(4))
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    # One KMS key for every node, as the kit deploys MinIO (SSE-S3 is on by default).
    kms_key: str = field(default_factory=generate_kms_key, repr=False)
    nodes: list[ClusterNode] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Consecutive API ports keep the layout readable (and match `make up NODES=4`).
        base = consecutive_free_ports(self.nodes_count)
        self.nodes = [
            ClusterNode(
                index=i,
                api_port=base + i - 1,
                console_port=free_port(),
                data_dir=self.base_dir / f"node{i}",
                log_path=self.base_dir / f"node{i}.log",
            )
            for i in range(1, self.nodes_count + 1)
        ]

    # --- layout ----------------------------------------------------------------------------

    def endpoints(self) -> list[str]:
        """The one argument list every node gets."""
        return [
            f"http://{n.host}{drive}"
            for n in self.nodes
            for drive in n.drives(self.drives_per_node)
        ]

    def command(self, node: ClusterNode) -> list[str]:
        return [
            str(MINIO_BINARY), "server", *self.endpoints(),
            "--address", node.host,
            "--console-address", f"127.0.0.1:{node.console_port}",
        ]  # fmt: skip

    def env(self, node: ClusterNode) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINIO_")}
        env.update(
            MINIO_ROOT_USER=self.access_key,
            MINIO_ROOT_PASSWORD=self.secret_key,
            MINIO_UPDATE="off",
            MINIO_ROOTDRIVE_THRESHOLD_SIZE="1B",
            _MINIO_SERVER_LOCAL=node.host,
            MINIO_KMS_SECRET_KEY=self.kms_key,
        )
        return env

    def node(self, index: int) -> ClusterNode:
        return self.nodes[index - 1]

    # --- lifecycle --------------------------------------------------------------------------

    def start_node(self, index: int) -> ClusterNode:
        if not MINIO_BINARY.exists():
            raise RuntimeError(f"{MINIO_BINARY} is missing: run `make minio` first")
        node = self.node(index)
        if node.running:
            return node
        for drive in node.drives(self.drives_per_node):
            drive.mkdir(parents=True, exist_ok=True)
        node.proc = start_logged(self.command(node), node.log_path, env=self.env(node))
        return node

    def start(self, timeout: float = 120) -> MinioCluster:
        for node in self.nodes:
            self.start_node(node.index)
        try:
            for node in self.nodes:
                self.wait_healthy(node.index, timeout)
        except Exception:
            self.stop()
            raise
        return self

    def kill_node(self, index: int) -> None:
        """SIGKILL: a crash, not a shutdown."""
        node = self.node(index)
        proc, node.proc = node.proc, None
        kill_process(proc)

    def stop_node(self, index: int) -> None:
        node = self.node(index)
        proc, node.proc = node.proc, None
        stop_process(proc)

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_node(node.index)

    def cluster_status(self, index: int) -> int | None:
        """/minio/health/cluster on one node: 200 when the cluster has write quorum."""
        try:
            r = requests.get(f"{self.node(index).endpoint}/minio/health/cluster", timeout=3)
        except requests.RequestException:
            return None
        return r.status_code

    def wait_healthy(self, index: int, timeout: float = 120) -> None:
        node = self.node(index)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc is not None and node.proc.poll() is not None:
                raise RuntimeError(f"node {index} exited; log:\n{self.log_tail(index)}")
            if self.cluster_status(index) == 200:
                return
            time.sleep(0.5)
        tail = self.log_tail(index)
        raise TimeoutError(f"node {index} ({node.host}) not healthy in {timeout}s; log:\n{tail}")

    # --- clients ----------------------------------------------------------------------------

    def client(self, index: int = 1) -> Minio:
        return Minio(
            self.node(index).host,
            access_key=self.access_key,
            secret_key=self.secret_key,
            secure=False,
            region="us-east-1",
        )

    def admin(self, index: int = 1) -> MinioAdmin:
        return MinioAdmin(
            endpoint=self.node(index).host,
            credentials=StaticProvider(self.access_key, self.secret_key),
            secure=False,
        )

    def log_tail(self, index: int, lines: int = 40) -> str:
        return log_tail(self.node(index).log_path, lines)

    def object_drives(self, index: int, bucket: str, key: str) -> list[Path]:
        """The drives of one node that hold this object's metadata (xl.meta)."""
        return [
            d
            for d in self.node(index).drives(self.drives_per_node)
            if (d / bucket / key / "xl.meta").is_file()
        ]


# --- the balancer of docker-compose.distributed.yaml, run for real on loopback ----------------

COMPOSE_FILE = ROOT / "docker-compose.distributed.yaml"
NGINX = Path("/usr/sbin/nginx")


def compose_balancer_config() -> str:
    """The nginx.conf the distributed compose file gives its balancer (Compose's ``$$``
    escapes undone, as Compose does when it writes the config)."""
    doc = yaml.safe_load(COMPOSE_FILE.read_text())
    return doc["configs"]["minio-lb"]["content"].replace("$$", "$")


def loopback_balancer_config(cluster: MinioCluster, api_port: int, console_port: int) -> str:
    """The compose balancer's config with the container names and ports replaced by the
    cluster's loopback addresses; everything else (balancing, retries, headers) unchanged."""
    text = compose_balancer_config()
    for node in cluster.nodes:
        text = text.replace(f"minio{node.index}:9000", node.host)
        text = text.replace(f"minio{node.index}:9001", f"127.0.0.1:{node.console_port}")
    text = text.replace("listen 9000;", f"listen 127.0.0.1:{api_port};")
    text = text.replace("listen 9001;", f"listen 127.0.0.1:{console_port};")
    if "minio1:" in text or "listen 900" in text:
        raise ValueError("the compose balancer config changed shape; update this rewrite")
    return text


@dataclass
class ClusterBalancer:
    cluster: MinioCluster
    prefix: Path
    port: int = field(default_factory=free_port)
    console_port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"

    def command(self) -> list[str]:
        directives = f"daemon off; pid {self.prefix}/nginx.pid;"
        if os.geteuid() == 0:  # started as root, nginx would switch its workers to "nobody"
            directives += f" user {pwd.getpwuid(0).pw_name};"
        return [str(NGINX), "-p", f"{self.prefix}/", "-c", "nginx.conf", "-e", "stderr",
                "-g", directives]  # fmt: skip

    def start(self, timeout: float = 20) -> ClusterBalancer:
        self.prefix.mkdir(parents=True, exist_ok=True)
        (self.prefix / "nginx.conf").write_text(
            loopback_balancer_config(self.cluster, self.port, self.console_port)
        )
        self.proc = start_logged(self.command(), self.prefix / "nginx.log")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited {self.proc.returncode}:\n{self.log_tail()}")
            try:
                requests.get(f"{self.endpoint}/minio/health/live", timeout=2)
                return self
            except requests.ConnectionError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the balancer did not answer within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, signal.SIGQUIT, kill_group=True)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.prefix / "nginx.log", lines)

    def client(self) -> Minio:
        return Minio(
            self.host,
            access_key=self.cluster.access_key,
            secret_key=self.cluster.secret_key,
            secure=False,
            region="us-east-1",
        )
