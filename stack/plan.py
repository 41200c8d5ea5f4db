"""What `minio-stack up` runs without Docker, decided as a value: no process, no file, no socket.

``plan_stack`` takes the stack's settings, the .env mapping, the environment `up` inherited and
the programs found on this machine, and returns a ``StackPlan``: every process with its command
and its own environment, the directories and files to make before they start (the Procfile,
for people; with ``--nodes`` the balancer's nginx.conf), the loopback ports that must be free
and the URLs that answer once the stack is healthy. Running it is supervisor.py's job, so tests
compare plans as plain values.

- minio:   ``minio-stack entrypoint -- .cache/bin/minio server .data/minio`` (the container's
           ENTRYPOINT and CMD) on 127.0.0.1: S3 API and MinIO's own console port
- signer:  ``minio-stack signer serve`` on 127.0.0.1
- console: ``console/render.py`` then Debian's nginx, unprivileged (``nginx -p .data/nginx``)

Each process gets the inherited basics (PATH, HOME, ...), only its part of .env, then its
wiring; the shell's own MINIO_*/SIGNER_*/... never leak in, .env is the configuration.

With ``nodes`` > 1 MinIO is distributed and erasure-coded instead: N processes on 127.0.0.1
(node i: API on STACK_API_PORT+100+i, its console on +200+i), 2 drives each under
``minio-cluster/``, one erasure set; node 1 runs under the entrypoint (so bootstrap converges
the cluster once), and an nginx ``balancer`` on STACK_API_PORT is the one endpoint the signer
and clients use, with the same proxy settings as docker-compose.distributed.yaml.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bootstrap.settings import KMS_KEY_VAR, minio_kms_key
from common.errors import ConfigError
from console.render import HEALTH_PATH as PROXY_HEALTH_PATH
from stack.envfile import is_managed
from stack.settings import LOOPBACK, StackSettings

MINIO_HEALTH_PATH = "/minio/health/live"
NODE_HEALTH_PATH = "/minio/health/cluster"  # a node of a distributed MinIO: initialised
SIGNER_HEALTH_PATH = "/readyz"  # 200 once the signer's identity can reach its bucket
# The signer's identity: bootstrap creates it (so MinIO's process needs it), the signer uses it.
_SHARED_WITH_MINIO = re.compile(r"^SIGNER_(ACCESS|SECRET)_KEY(_FILE)?$")
MAX_NODES = 16
DRIVES_PER_NODE = 2
# Node i's ports sit this far above STACK_API_PORT (plus i): clear of the stack's own ports.
NODE_API_OFFSET = 100
NODE_CONSOLE_OFFSET = 200


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

    def drive(self, node: Node, drive: int) -> Path:
        return self.cluster_data / f"node{node.index}" / f"d{drive}"


@dataclass(frozen=True)
class Node:
    """One MinIO process of a distributed stack."""

    index: int  # 1-based
    api_port: int
    console_port: int

    @property
    def host(self) -> str:
        return f"{LOOPBACK}:{self.api_port}"


@dataclass(frozen=True)
class PlannedFile:
    path: Path
    text: str


@dataclass(frozen=True)
class PortCheck:
    """The loopback ports the stack will listen on, each named by the variable that moves it."""

    wanted: Mapping[str, int]
    # Found without looking at the machine: a node port that is also one of the stack's ports.
    clashes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StackPlan:
    stack: StackSettings
    processes: tuple[Process, ...]
    directories: tuple[Path, ...]  # made before anything starts
    files: tuple[PlannedFile, ...]  # written before anything starts
    ports: PortCheck
    health: tuple[tuple[str, str], ...]  # (what, URL): each answers 200 once the stack is up
    manager_env: Mapping[str, str]  # the background process manager's own environment

    @property
    def paths(self) -> Paths:
        return Paths(self.stack.data_dir)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.processes)


def plan_stack(
    stack: StackSettings,
    config: Mapping[str, str],
    inherited: Mapping[str, str],
    tools: Tools,
    nodes: int = 1,
) -> StackPlan:
    """The whole native run: minio, signer, console; with ``nodes`` > 1 also minio2..N and the
    balancer. Raises ConfigError when the nodes' ports do not fit."""
    paths = Paths(stack.data_dir)
    cluster = cluster_nodes(stack, nodes) if nodes > 1 else ()
    env = _Environments({k: v for k, v in inherited.items() if not is_managed(k)}, config)
    first_console = cluster[0].console_port if cluster else stack.minio_console_port
    processes = (
        *_minio_processes(stack, paths, tools, cluster, env),
        *([_balancer_process(paths, tools, env)] if cluster else []),
        _signer_process(stack, tools, env),
        _console_process(stack, paths, tools, env, first_console),
    )
    files = [PlannedFile(paths.procfile, procfile(processes))]
    directories = [paths.data_dir, paths.minio_data, paths.nginx_prefix]
    if cluster:
        balancer = balancer_config(stack, cluster, tools.worker_user)
        files.insert(0, PlannedFile(paths.balancer_prefix / "nginx.conf", balancer))
        directories += [paths.drive(n, d) for n in cluster for d in _drive_numbers()]
        directories.append(paths.balancer_prefix)
    return StackPlan(
        stack=stack,
        processes=processes,
        directories=tuple(directories),
        files=tuple(files),
        ports=port_check(stack, cluster),
        health=health_checks(stack, cluster),
        # MinIO's environment without what the stack manages: the basics, and any .env
        # variable no program claims (TZ, a proxy), which honcho's own Python may need too.
        manager_env={k: v for k, v in processes[0].env.items() if not is_managed(k)},
    )


# --- each process's environment --------------------------------------------------------------


def _for_minio(name: str) -> bool:
    return not name.startswith(("SIGNER_", "S3_", "CONSOLE_")) or bool(
        _SHARED_WITH_MINIO.match(name)
    )


def _for_other_nodes(name: str) -> bool:
    # Bootstrap runs beside node 1 only, so the other nodes never need the signer's keys.
    return _for_minio(name) and not name.startswith("SIGNER_")


def _for_signer(name: str) -> bool:
    return name.startswith(("SIGNER_", "S3_")) or name in (
        "MINIO_BUCKET",
        "MINIO_ROOT_USER",
        "MINIO_REGION",  # S3_REGION's default: MinIO's own region
    )


def _for_console(name: str) -> bool:
    return name.startswith("CONSOLE_")


@dataclass(frozen=True)
class _Environments:
    base: Mapping[str, str]  # the inherited basics, without anything the stack manages
    config: Mapping[str, str]  # .env

    def build(self, select: Callable[[str], bool], wiring: Mapping[str, str]) -> dict[str, str]:
        return {**self.base, **{k: v for k, v in self.config.items() if select(k)}, **wiring}


# --- the processes -----------------------------------------------------------------------------


def _minio_wiring(stack: StackSettings) -> dict[str, str]:
    return {
        # A browser that opens the API URL is sent to the console through the proxy.
        "MINIO_BROWSER_REDIRECT_URL": stack.console_url,
        # The console reaches the API, and builds share links, at this URL.
        "MINIO_SERVER_URL": stack.api_url,
        "MINIO_UPDATE": "off",
    }


def _minio_server(
    tools: Tools, volumes: Sequence[str], address: str, console_port: int
) -> tuple[str, ...]:
    return (
        str(tools.minio),
        "server",
        *volumes,
        "--address",
        address,
        "--console-address",
        f"{LOOPBACK}:{console_port}",
    )


def _under_entrypoint(tools: Tools, server: tuple[str, ...]) -> tuple[str, ...]:
    return (str(tools.minio_stack), "entrypoint", "--", *server)


def _minio_processes(
    stack: StackSettings,
    paths: Paths,
    tools: Tools,
    cluster: Sequence[Node],
    env: _Environments,
) -> tuple[Process, ...]:
    wiring = _minio_wiring(stack)
    if not cluster:
        server = _minio_server(
            tools, [str(paths.minio_data)], f"{LOOPBACK}:{stack.api_port}", stack.minio_console_port
        )
        return (Process("minio", _under_entrypoint(tools, server), env.build(_for_minio, wiring)),)
    volumes = cluster_endpoints(paths, cluster)
    kms = _kms_for_plain_minio(env.config)
    first, *others = cluster
    node1 = _minio_server(tools, volumes, first.host, first.console_port)
    return (
        Process(
            "minio",
            _under_entrypoint(tools, node1),
            env.build(_for_minio, {**wiring, **node_wiring(first)}),
        ),
        *(
            Process(
                f"minio{node.index}",
                _minio_server(tools, volumes, node.host, node.console_port),
                env.build(_for_other_nodes, {**wiring, **node_wiring(node), **kms}),
            )
            for node in others
        ),
    )


def _kms_for_plain_minio(config: Mapping[str, str]) -> dict[str, str]:
    """Nodes 2..N run without the entrypoint, which turns a plain secret into MinIO's
    name:base64 form for node 1: they get that same form, so every node has the same key."""
    value = config.get(KMS_KEY_VAR)
    if not value:
        return {}
    try:
        return {KMS_KEY_VAR: minio_kms_key(value)}
    except ValueError as exc:
        raise ConfigError([(KMS_KEY_VAR, str(exc))]) from None


def _nginx_in_foreground(tools: Tools, prefix: Path) -> tuple[str, ...]:
    # Under honcho nginx must not daemonize, and logs to stderr so its lines reach stack.log.
    return (
        str(tools.nginx),
        "-p",
        f"{prefix}/",
        "-c",
        "nginx.conf",
        "-e",
        "stderr",
        "-g",
        "daemon off;",
    )


def _balancer_process(paths: Paths, tools: Tools, env: _Environments) -> Process:
    return Process("balancer", _nginx_in_foreground(tools, paths.balancer_prefix), dict(env.base))


def _signer_process(stack: StackSettings, tools: Tools, env: _Environments) -> Process:
    wiring = {
        "SIGNER_S3_ENDPOINT": stack.api_url,
        # URLs are signed for the host clients reach: here the same loopback API.
        "SIGNER_PUBLIC_ENDPOINT": stack.api_url,
        "SIGNER_LISTEN": f"{LOOPBACK}:{stack.signer_port}",
    }
    return Process(
        "signer", (str(tools.minio_stack), "signer", "serve"), env.build(_for_signer, wiring)
    )


def _console_process(
    stack: StackSettings, paths: Paths, tools: Tools, env: _Environments, upstream_port: int
) -> Process:
    prefix = paths.nginx_prefix
    render = [str(tools.python), "-m", "console.render", "--prefix", str(prefix)]
    render += ["--listen-host", LOOPBACK]
    if tools.worker_user:
        render += ["--worker-user", tools.worker_user]
    wiring = {
        "PORT": str(stack.console_port),
        "CONSOLE_UPSTREAM_HOST": LOOPBACK,
        "CONSOLE_UPSTREAM_PORT": str(upstream_port),
    }
    return Process(
        "console",
        (*render, "--", *_nginx_in_foreground(tools, prefix)),
        env.build(_for_console, wiring),
    )


def procfile(processes: Iterable[Process]) -> str:
    """What runs, in Procfile form (for people: the environment is not in it)."""
    head = "# Written by `minio-stack up`; honcho runs these with their own environments.\n"
    return head + "".join(f"{p.name}: {p.command}\n" for p in processes)


def health_checks(
    stack: StackSettings, cluster: Sequence[Node] = ()
) -> tuple[tuple[str, str], ...]:
    """With nodes, each one's /minio/health/cluster as well: 200 once that node has initialised
    and sees write quorum (its /live answers before, and the balancer would hand requests to a
    node that still answers 503)."""
    nodes = tuple(
        (f"MinIO node {node.index}", f"http://{node.host}{NODE_HEALTH_PATH}") for node in cluster
    )
    return (
        *nodes,
        ("MinIO API", stack.api_url + MINIO_HEALTH_PATH),
        ("signer", stack.signer_url + SIGNER_HEALTH_PATH),
        ("console proxy", stack.console_url + PROXY_HEALTH_PATH),
        ("console", stack.console_url + "/"),
    )


# --- the ports -----------------------------------------------------------------------------------


def port_check(stack: StackSettings, cluster: Sequence[Node] = ()) -> PortCheck:
    """The stack's ports; with nodes, theirs too (and any that falls on one of the stack's)."""
    wanted = dict(stack.ports())
    if not cluster:
        return PortCheck(wanted)
    wanted.pop("STACK_MINIO_CONSOLE_PORT")  # the nodes have their own console ports
    own = {port: name for name, port in wanted.items()}
    clashes = []
    for node in cluster:
        for offset, port in (
            (NODE_API_OFFSET, node.api_port),
            (NODE_CONSOLE_OFFSET, node.console_port),
        ):
            name = f"STACK_API_PORT+{offset + node.index} (node {node.index})"
            if port in own:
                clashes.append((name, f"port {port} is also {own[port]}; move one of them"))
            wanted[name] = port
    return PortCheck(wanted, tuple(clashes))


# --- a distributed MinIO (--nodes N) -----------------------------------------------------------


def cluster_nodes(stack: StackSettings, nodes: int) -> tuple[Node, ...]:
    """Node i listens on STACK_API_PORT+100+i (API) and +200+i (its console)."""
    if not 1 <= nodes <= MAX_NODES:
        raise ConfigError([("--nodes", f"{nodes} is outside 1..{MAX_NODES}")])
    if stack.api_port + NODE_CONSOLE_OFFSET + nodes > 65535:
        room = f"(+{NODE_API_OFFSET + 1}..+{NODE_CONSOLE_OFFSET + nodes}); use a lower port"
        raise ConfigError(
            [("STACK_API_PORT", f"{stack.api_port} leaves no room for the nodes' ports {room}")]
        )
    return tuple(
        Node(i, stack.api_port + NODE_API_OFFSET + i, stack.api_port + NODE_CONSOLE_OFFSET + i)
        for i in range(1, nodes + 1)
    )


def _drive_numbers() -> range:
    return range(1, DRIVES_PER_NODE + 1)


def cluster_endpoints(paths: Paths, cluster: Sequence[Node]) -> list[str]:
    """The one argument list every node gets: each node's own drives, one erasure set.

    Listed one by one, not with MinIO's ellipses: on one host every node needs its own drive
    paths (MinIO refuses one path behind two ports of an address), and ellipses expand as a
    cartesian product, which would give every port the same paths. docker-compose.distributed
    .yaml, where each node is its own host, uses http://minio{1...4}:9000/data{1...2}.
    """
    return [
        f"http://{node.host}{paths.drive(node, drive)}"
        for node in cluster
        for drive in _drive_numbers()
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
      # reconnected to its peers) is retried on another one. Not a 503: counted as a failure it
      # marks every still-initialising node down at once (no live upstreams, 502 for all); a
      # 503 reaches the client, which retries it (XMinioServerNotInitialized, SlowDown).
      proxy_next_upstream error timeout http_502 http_504 http_404;
      proxy_next_upstream_tries 2;
      proxy_pass http://minio_api;
    }}
  }}
}}
"""
