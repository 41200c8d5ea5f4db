"""The whole stack without Docker: MinIO, the signer and the console proxy, run by honcho.

`minio-stack up` (on a machine without a Docker engine) plans three processes, each with
only the variables it needs, validates all three configurations at once, then starts
honcho's process manager as a background process (``python -m stack.native``; the
plan arrives on its stdin, so no secret lands in a file or an argument list). honcho stops
every process when one exits and on SIGTERM, so `minio-stack down` only signals it; the
child pids it records let `down` clean up even after the manager itself was killed.

- minio:   ``minio-stack entrypoint -- .cache/bin/minio server .data/minio`` (the container's
           ENTRYPOINT and CMD) on 127.0.0.1: S3 API and MinIO's own console port
- signer:  ``minio-stack signer serve`` on 127.0.0.1
- console: ``console/render.py`` then Debian's nginx, unprivileged (``nginx -p .data/nginx``)

Everything lives under the data dir: ``minio/`` (the objects), ``nginx/``, ``Procfile`` (what
runs, for people), ``stack.log``, ``stack.pid`` and ``stack.pids``.

With ``--nodes N`` (`make up NODES=4`) MinIO is distributed and erasure-coded instead: N
processes on 127.0.0.1 (node i: API on STACK_API_PORT+100+i, its console on +200+i), 2 drives
each under ``minio-cluster/``, one erasure set; node 1 runs under the entrypoint (so bootstrap
converges the cluster once), and an nginx ``balancer`` on STACK_API_PORT is the one endpoint
the signer and clients use, with the same proxy settings as docker-compose.distributed.yaml.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bootstrap import settings as bootstrap_settings
from common.errors import ConfigError, StackError, WaitTimeout
from console.render import HEALTH_PATH as PROXY_HEALTH_PATH
from console.render import ConsoleSettings
from signer import settings as signer_settings
from stack.settings import LOOPBACK, StackSettings

MINIO_HEALTH_PATH = "/minio/health/live"
SIGNER_HEALTH_PATH = "/readyz"  # 200 once the signer's identity can reach its bucket
# Variables the stack sets from .env and its own wiring; the shell's values never leak in.
_MANAGED_PREFIXES = (
    "MINIO_",
    "SIGNER_",
    "CONSOLE_",
    "CORS_",
    "BOOTSTRAP_",
    "MULTIPART_",
    "S3_",
    "STACK_",
)
_MANAGED_NAMES = frozenset({"PORT"})
# The signer's identity: bootstrap creates it (so MinIO's process needs it), the signer uses it.
_SHARED_WITH_MINIO = re.compile(r"^SIGNER_(ACCESS|SECRET)_KEY(_FILE)?$")
_STARTED = re.compile(r"^(?P<name>\S+) started \(pid=(?P<pid>\d+)\)")
STOP_GRACE_SECONDS = 30.0  # honcho itself escalates to SIGKILL 5s after its SIGTERM
POLL_SECONDS = 0.5
MAX_NODES = 16
DRIVES_PER_NODE = 2


@dataclass(frozen=True)
class Process:
    name: str
    argv: tuple[str, ...]
    env: Mapping[str, str]

    @property
    def command(self) -> str:
        # exec: the shell honcho starts is replaced, so signals reach the program itself.
        return "exec " + shlex.join(self.argv)


@dataclass(frozen=True)
class Tools:
    minio: Path
    minio_stack: Path
    python: Path
    nginx: Path
    worker_user: str | None  # nginx workers run as the invoking user when started as root


@dataclass(frozen=True)
class Paths:
    data_dir: Path

    @property
    def minio_data(self) -> Path:
        return self.data_dir / "minio"

    @property
    def nginx_prefix(self) -> Path:
        return self.data_dir / "nginx"

    @property
    def cluster_data(self) -> Path:
        # Not inside minio/: a single-node MinIO there would take node dirs for buckets.
        return self.data_dir / "minio-cluster"

    @property
    def balancer_prefix(self) -> Path:
        return self.data_dir / "balancer"

    @property
    def procfile(self) -> Path:
        return self.data_dir / "Procfile"

    @property
    def log(self) -> Path:
        return self.data_dir / "stack.log"

    @property
    def pid(self) -> Path:
        return self.data_dir / "stack.pid"

    @property
    def pids(self) -> Path:
        return self.data_dir / "stack.pids"


# --- planning (pure) ---------------------------------------------------------------------------


def is_managed(name: str) -> bool:
    return name in _MANAGED_NAMES or name.startswith(_MANAGED_PREFIXES)


def _for_signer(name: str) -> bool:
    return name.startswith(("SIGNER_", "S3_")) or name in ("MINIO_BUCKET", "MINIO_ROOT_USER")


def _for_minio(name: str) -> bool:
    return not name.startswith(("SIGNER_", "S3_", "CONSOLE_")) or bool(
        _SHARED_WITH_MINIO.match(name)
    )


def plan(
    stack: StackSettings,
    config: Mapping[str, str],
    inherited: Mapping[str, str],
    tools: Tools,
    nodes: int = 1,
) -> tuple[Process, ...]:
    """The processes (minio, signer, console; with ``nodes`` > 1 also minio2..N and the
    balancer), each with the inherited basics, its part of .env and its wiring."""
    base = {k: v for k, v in inherited.items() if not is_managed(k)}
    paths = Paths(stack.data_dir)

    def env(select: Callable[[str], bool], wiring: Mapping[str, str]) -> dict[str, str]:
        return {**base, **{k: v for k, v in config.items() if select(k)}, **wiring}

    minio_wiring = {
        # A browser that opens the API URL is sent to the console through the proxy.
        "MINIO_BROWSER_REDIRECT_URL": stack.console_url,
        # The console reaches the API, and builds share links, at this URL.
        "MINIO_SERVER_URL": stack.api_url,
        "MINIO_UPDATE": "off",
    }
    cluster = cluster_nodes(stack, nodes) if nodes > 1 else ()
    if cluster:
        server_args: tuple[str, ...] = tuple(cluster_endpoints(paths, cluster))
        first_console = cluster[0].console_port
    else:
        server_args = (str(paths.minio_data),)
        first_console = stack.minio_console_port

    def server(node: Node | None) -> tuple[str, ...]:
        address = node.host if node else f"{LOOPBACK}:{stack.api_port}"
        console = node.console_port if node else stack.minio_console_port
        return (
            str(tools.minio),
            "server",
            *server_args,
            "--address",
            address,
            "--console-address",
            f"{LOOPBACK}:{console}",
        )

    minio = Process(
        "minio",
        (str(tools.minio_stack), "entrypoint", "--", *server(cluster[0] if cluster else None)),
        env(_for_minio, {**minio_wiring, **(node_wiring(cluster[0]) if cluster else {})}),
    )
    # Nodes 2..N: plain MinIO (bootstrap runs once, beside node 1), without the signer's keys.
    others = tuple(
        Process(
            f"minio{node.index}",
            server(node),
            env(
                lambda k: _for_minio(k) and not k.startswith("SIGNER_"),
                {**minio_wiring, **node_wiring(node)},
            ),
        )
        for node in cluster[1:]
    )
    nginx = (str(tools.nginx), "-p", f"{paths.balancer_prefix}/", "-c", "nginx.conf")
    balancer = (
        (Process("balancer", (*nginx, "-e", "stderr", "-g", "daemon off;"), dict(base)),)
        if cluster
        else ()
    )
    signer = Process(
        "signer",
        (str(tools.minio_stack), "signer", "serve"),
        env(
            _for_signer,
            {
                "SIGNER_S3_ENDPOINT": stack.api_url,
                # URLs are signed for the host clients reach: here the same loopback API.
                "SIGNER_PUBLIC_ENDPOINT": stack.api_url,
                "SIGNER_LISTEN": f"{LOOPBACK}:{stack.signer_port}",
            },
        ),
    )
    prefix = paths.nginx_prefix
    render = [
        str(tools.python),
        "-m",
        "console.render",
        "--prefix",
        str(prefix),
        "--listen-host",
        LOOPBACK,
    ]
    if tools.worker_user:
        render += ["--worker-user", tools.worker_user]
    console = Process(
        "console",
        (
            *render,
            "--",
            str(tools.nginx),
            "-p",
            f"{prefix}/",
            "-c",
            "nginx.conf",
            "-e",
            "stderr",
            "-g",
            "daemon off;",
        ),
        env(
            lambda k: k.startswith("CONSOLE_"),
            {
                "PORT": str(stack.console_port),
                "CONSOLE_UPSTREAM_HOST": LOOPBACK,
                "CONSOLE_UPSTREAM_PORT": str(first_console),
            },
        ),
    )
    return (minio, *others, *balancer, signer, console)


# --- a distributed MinIO (--nodes N) -----------------------------------------------------------


@dataclass(frozen=True)
class Node:
    index: int  # 1-based
    api_port: int
    console_port: int

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.api_port}"


def cluster_nodes(stack: StackSettings, nodes: int) -> tuple[Node, ...]:
    """Node i listens on STACK_API_PORT+100+i (API) and +200+i (its console)."""
    if not 1 <= nodes <= MAX_NODES:
        raise ConfigError([("--nodes", f"{nodes} is outside 1..{MAX_NODES}")])
    if stack.api_port + 200 + nodes > 65535:
        room = f"(+101..+{200 + nodes}); use a lower port"
        raise ConfigError(
            [("STACK_API_PORT", f"{stack.api_port} leaves no room for the nodes' ports {room}")]
        )
    return tuple(
        Node(i, stack.api_port + 100 + i, stack.api_port + 200 + i) for i in range(1, nodes + 1)
    )


def cluster_endpoints(paths: Paths, cluster: Sequence[Node]) -> list[str]:
    """The one argument list every node gets: each node's own drives, one erasure set.

    Listed one by one, not with MinIO's ellipses: on one host every node needs its own drive
    paths (MinIO refuses one path behind two ports of an address), and ellipses expand as a
    cartesian product, which would give every port the same paths. docker-compose.distributed
    .yaml, where each node is its own host, uses http://minio{1...4}:9000/data{1...2}.
    """
    return [
        f"http://{node.host}{paths.cluster_data / f'node{node.index}' / f'd{drive}'}"
        for node in cluster
        for drive in range(1, DRIVES_PER_NODE + 1)
    ]


def node_wiring(node: Node) -> dict[str, str]:
    return {
        # Inside a container (/.dockerenv) MinIO otherwise waits forever for loopback hosts to
        # "resolve to a valid IP"; this names the node's own endpoints. Ignored elsewhere.
        "_MINIO_SERVER_LOCAL": node.host,
        # The drives share the machine's root disk, which distributed MinIO refuses unless a
        # root drive is defined by size: no real drive is smaller than one byte.
        "MINIO_ROOTDRIVE_THRESHOLD_SIZE": "1B",
    }


def balancer_config(stack: StackSettings, cluster: Sequence[Node], worker_user: str | None) -> str:
    """nginx in front of the nodes: docker-compose.distributed.yaml's balancer, on loopback."""
    servers = "".join(f"    server {node.host} max_fails=1 fail_timeout=10s;\n" for node in cluster)
    user = f"user {worker_user};\n" if worker_user else ""
    return f"""# Written by `minio-stack up --nodes {len(cluster)}`.
{user}worker_processes 1;
pid nginx.pid;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  upstream minio_api {{
    least_conn;
{servers}  }}
  server {{
    listen {LOOPBACK}:{stack.api_port};
    # No size limit and no buffering: uploads stream straight through to MinIO.
    client_max_body_size 0;
    proxy_buffering off;
    proxy_request_buffering off;
    ignore_invalid_headers off;
    location / {{
      # SigV4 signs the Host header: pass the client's own, untouched.
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      chunked_transfer_encoding off;
      proxy_connect_timeout 5s;
      # A failed node is skipped; a 404 from a node that has just come back (not yet
      # reconnected to its peers) is retried on another one.
      proxy_next_upstream error timeout http_502 http_503 http_504 http_404;
      proxy_next_upstream_tries 2;
      proxy_pass http://minio_api;
    }}
  }}
}}
"""


def procfile(processes: Iterable[Process]) -> str:
    """What runs, in Procfile form (for people: the environment is not in it)."""
    head = "# Written by `minio-stack up`; honcho runs these with their own environments.\n"
    return head + "".join(f"{p.name}: {p.command}\n" for p in processes)


def validate(processes: Iterable[Process], stack: StackSettings) -> None:
    """Each program's own settings loader on the environment it will get; every problem at once."""
    by_name = {p.name: p.env for p in processes}
    problems: list[tuple[str, str]] = []
    checks: list[Callable[[], Any]] = [
        lambda: bootstrap_settings.load(by_name["minio"], default_endpoint=stack.api_url),
        lambda: signer_settings.load(by_name["signer"]),
        lambda: ConsoleSettings.from_env(by_name["console"]),
    ]
    for check in checks:
        try:
            check()
        except ConfigError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ConfigError([(f"{name} (in {stack.env_file.name})", why) for name, why in problems])


# --- the machine ---------------------------------------------------------------------------------


def find_tools(stack: StackSettings) -> Tools:
    """The programs the stack runs; a missing one is reported with how to get it."""
    minio = stack.root / ".cache" / "bin" / "minio"
    if not os.access(minio, os.X_OK):
        raise StackError(
            f"{minio} is missing", hint="build it with `make minio` (needs Go >= 1.24)"
        )
    bin_dir = Path(sys.executable).parent
    minio_stack = bin_dir / "minio-stack"
    if not os.access(minio_stack, os.X_OK):
        found = shutil.which("minio-stack")
        if found is None:
            raise StackError("the minio-stack command is not installed", hint="run `make install`")
        minio_stack = Path(found)
    nginx = shutil.which("nginx") or shutil.which(
        "nginx", path="/usr/sbin:/usr/local/sbin:/opt/homebrew/bin"
    )
    if nginx is None:
        raise StackError(
            "nginx is not installed",
            hint="install it (Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx)",
        )
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
    return Tools(minio, minio_stack, Path(sys.executable), Path(nginx), user)


def busy_ports(stack: StackSettings, nodes: int = 1) -> list[tuple[str, str]]:
    """(variable, why) for every port something else already listens on; with nodes, also
    each node port that falls on one of the stack's own ports."""
    problems = []
    ports = dict(stack.ports())
    if nodes > 1:
        ports.pop("STACK_MINIO_CONSOLE_PORT")  # the nodes have their own console ports
        own = {port: name for name, port in ports.items()}
        for node in cluster_nodes(stack, nodes):
            for offset, port in ((100, node.api_port), (200, node.console_port)):
                name = f"STACK_API_PORT+{offset + node.index} (node {node.index})"
                if port in own:
                    problems.append((name, f"port {port} is also {own[port]}; move one of them"))
                ports[name] = port
    for name, port in ports.items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers themselves do: a closed connection's TIME_WAIT is not "in use".
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                problems.append(
                    (
                        name,
                        f"port {port} on {LOOPBACK} is in use; stop what uses it or set "
                        f"{name.split('+', 1)[0]}",
                    )
                )
    return problems


def _command_line(pid: int) -> str:
    result = subprocess.run(
        ["ps", "-p", str(pid), "-o", "command="], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _alive(pid: int) -> bool:
    """Running: it exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = subprocess.run(["ps", "-p", str(pid), "-o", "stat="], capture_output=True, text=True)
    return not state.stdout.strip().startswith("Z")


def _recorded_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def running_pid(paths: Paths) -> int | None:
    """The supervisor's pid if it is running (a stale pid file is ignored)."""
    pid = _recorded_pid(paths)
    if pid is None:
        return None
    return pid if _alive(pid) and "stack.native" in _command_line(pid) else None


def _supervisor_group(pgid: int) -> list[int]:
    """Live processes of the supervisor's process group that are the supervisor's code."""
    result = subprocess.run(
        ["ps", "-A", "-o", "pid=,pgid=,command="], capture_output=True, text=True
    )
    found = []
    for line in result.stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1] == str(pgid) and "stack.native" in fields[2]:
            found.append(int(fields[0]))
    return found


def child_pids(paths: Paths) -> dict[str, int]:
    try:
        lines = paths.pids.read_text().splitlines()
    except OSError:
        return {}
    return {name: int(pid) for name, pid in (line.split() for line in lines if line.strip())}


def start(
    processes: tuple[Process, ...], stack: StackSettings, nodes: int = 1, tools: Tools | None = None
) -> int:
    """Start honcho in the background with this plan; returns its pid."""
    paths = Paths(stack.data_dir)
    for directory in (paths.data_dir, paths.minio_data, paths.nginx_prefix):
        directory.mkdir(parents=True, exist_ok=True)
    if nodes > 1:
        cluster = cluster_nodes(stack, nodes)
        for node in cluster:
            for drive in range(1, DRIVES_PER_NODE + 1):
                (paths.cluster_data / f"node{node.index}" / f"d{drive}").mkdir(
                    parents=True, exist_ok=True
                )
        paths.balancer_prefix.mkdir(parents=True, exist_ok=True)
        (paths.balancer_prefix / "nginx.conf").write_text(
            balancer_config(stack, cluster, tools.worker_user if tools else None)
        )
    paths.procfile.write_text(procfile(processes))
    paths.pids.unlink(missing_ok=True)
    plan_doc = {
        "pids": str(paths.pids),
        "processes": [
            {"name": p.name, "command": p.command, "env": dict(p.env)} for p in processes
        ],
    }
    with open(paths.log, "ab") as log:
        supervisor = subprocess.Popen(
            [sys.executable, "-m", "stack.native"],
            cwd=stack.root,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the shell that ran `make up`
            env={k: v for k, v in processes[0].env.items() if not is_managed(k)},
        )
    assert supervisor.stdin is not None
    supervisor.stdin.write(json.dumps(plan_doc).encode())
    supervisor.stdin.close()
    paths.pid.write_text(f"{supervisor.pid}\n")
    return supervisor.pid


def health_checks(stack: StackSettings) -> tuple[tuple[str, str], ...]:
    return (
        ("MinIO API", stack.api_url + MINIO_HEALTH_PATH),
        ("signer", stack.signer_url + SIGNER_HEALTH_PATH),
        ("console proxy", stack.console_url + PROXY_HEALTH_PATH),
        ("console", stack.console_url + "/"),
    )


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def wait_healthy(stack: StackSettings, pid: int | None, timeout: float) -> None:
    """Until every health URL answers 200; fails early when the stack stopped (bootstrap failed)."""
    paths = Paths(stack.data_dir)
    pending = dict(health_checks(stack))
    deadline = time.monotonic() + timeout
    while pending:
        pending = {name: url for name, url in pending.items() if not _answers(url)}
        if not pending:
            return
        if pid is not None and not _alive_child(pid):
            raise StackError(
                "the stack stopped while starting",
                hint=f"the end of {paths.log} says why; fix that, then `make up` again",
            )
        if time.monotonic() > deadline:
            names = ", ".join(f"{name} ({url})" for name, url in pending.items())
            raise WaitTimeout(
                f"not healthy after {timeout:g}s: {names}",
                hint=f"see {paths.log}; `make down` stops what started",
            )
        time.sleep(POLL_SECONDS)


def _alive_child(pid: int) -> bool:
    """Alive, reaping it first if it is our own exited child (a zombie still answers kill 0)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = 0
    return done == 0 and _alive(pid)


def log_tail(paths: Paths, lines: int = 25) -> str:
    try:
        return "\n".join(paths.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(stack: StackSettings) -> list[str]:
    """Stop the stack; returns the names of processes that had to be killed. No process stays."""
    paths = Paths(stack.data_dir)
    pid = running_pid(paths)
    killed: list[str] = []
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, STOP_GRACE_SECONDS):
            killed.append("supervisor")
            _killpg(pid, signal.SIGKILL)
    else:
        # The manager died without stopping (SIGKILL, OOM): its helper processes, in its
        # process group, outlive it until their programs exit.
        recorded = _recorded_pid(paths)
        helpers = _supervisor_group(recorded) if recorded else []
        if helpers:
            killed.append("supervisor helpers")
        for helper in helpers:
            _kill_now(helper)
    for name, child in child_pids(paths).items():
        if _alive(child) and _ours(child, stack):
            # Outlived the manager (it was killed): each runs in its own process group.
            killed.append(name)
            _killpg(child, signal.SIGTERM)
            if not _wait_gone(child, 10):
                _killpg(child, signal.SIGKILL)
                _wait_gone(child, 5)
    paths.pid.unlink(missing_ok=True)
    paths.pids.unlink(missing_ok=True)
    return killed


def _ours(pid: int, stack: StackSettings) -> bool:
    """Still one of the stack's programs, not an unrelated process that reused a stale pid."""
    command = _command_line(pid)
    return str(stack.data_dir) in command or "minio-stack" in command


def _kill_now(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive_child(pid):
            return True
        time.sleep(0.1)
    return not _alive_child(pid)


# --- the background supervisor: python -m stack.native ------------------------------------


def supervise(plan_doc: Mapping[str, Any]) -> int:
    """Run the planned processes under honcho until one exits or SIGTERM arrives."""
    from honcho.manager import Manager
    from honcho.printer import Printer

    pids_path = Path(plan_doc["pids"])

    class RecordingPrinter(Printer):
        """honcho's printer, also recording each child's pid for `down`."""

        def write(self, message: Any) -> None:
            super().write(message)
            data = message.data.decode() if isinstance(message.data, bytes) else message.data
            match = _STARTED.match(data) if message.name == "system" else None
            if match:
                with pids_path.open("a") as out:
                    out.write(f"{match['name']} {match['pid']}\n")

    manager = Manager(RecordingPrinter(sys.stdout, colour=False))
    for proc in plan_doc["processes"]:
        manager.add_process(proc["name"], proc["command"], env=proc["env"])
    manager.loop()
    return manager.returncode or 0


if __name__ == "__main__":
    sys.exit(supervise(json.load(sys.stdin)))
