"""The whole stack without Docker: MinIO, the signer and the console proxy, run by honcho.

`minio-stack up` (on a machine without a Docker engine) plans three processes, each with
only the variables it needs, validates all three configurations at once, then starts
honcho's process manager as a background process (``python -m bootstrap.localstack``; the
plan arrives on its stdin, so no secret lands in a file or an argument list). honcho stops
every process when one exits and on SIGTERM, so `minio-stack down` only signals it; the
child pids it records let `down` clean up even after the manager itself was killed.

- minio:   ``minio-stack entrypoint -- .cache/bin/minio server .data/minio`` (the container's
           ENTRYPOINT and CMD) on 127.0.0.1: S3 API and MinIO's own console port
- signer:  ``minio-stack signer serve`` on 127.0.0.1
- console: ``console/render.py`` then Debian's nginx, unprivileged (``nginx -p .data/nginx``)

Everything lives under the data dir: ``minio/`` (the objects), ``nginx/``, ``Procfile`` (what
runs, for people), ``stack.log``, ``stack.pid`` and ``stack.pids``.
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
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bootstrap import settings as bootstrap_settings
from bootstrap.errors import ConfigError, StackError, WaitTimeout
from bootstrap.stack_settings import LOOPBACK, StackSettings
from console.render import HEALTH_PATH as PROXY_HEALTH_PATH
from console.render import ConsoleSettings
from signer import settings as signer_settings

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
    stack: StackSettings, config: Mapping[str, str], inherited: Mapping[str, str], tools: Tools
) -> tuple[Process, ...]:
    """The three processes, each with the inherited basics, its part of .env and its wiring."""
    base = {k: v for k, v in inherited.items() if not is_managed(k)}
    paths = Paths(stack.data_dir)

    def env(select: Callable[[str], bool], wiring: Mapping[str, str]) -> dict[str, str]:
        return {**base, **{k: v for k, v in config.items() if select(k)}, **wiring}

    minio = Process(
        "minio",
        (
            str(tools.minio_stack),
            "entrypoint",
            "--",
            str(tools.minio),
            "server",
            str(paths.minio_data),
            "--address",
            f"{LOOPBACK}:{stack.api_port}",
            "--console-address",
            f"{LOOPBACK}:{stack.minio_console_port}",
        ),
        env(
            _for_minio,
            {
                # A browser that opens the API URL is sent to the console through the proxy.
                "MINIO_BROWSER_REDIRECT_URL": stack.console_url,
                # The console reaches the API, and builds share links, at this URL.
                "MINIO_SERVER_URL": stack.api_url,
                "MINIO_UPDATE": "off",
            },
        ),
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
                "CONSOLE_UPSTREAM_PORT": str(stack.minio_console_port),
            },
        ),
    )
    return (minio, signer, console)


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


def busy_ports(stack: StackSettings) -> list[tuple[str, str]]:
    """(variable, why) for every port something else already listens on."""
    problems = []
    for name, port in stack.ports().items():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # As the servers themselves do: a closed connection's TIME_WAIT is not "in use".
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                problems.append(
                    (name, f"port {port} on {LOOPBACK} is in use; stop what uses it or set {name}")
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
    return pid if _alive(pid) and "bootstrap.localstack" in _command_line(pid) else None


def _supervisor_group(pgid: int) -> list[int]:
    """Live processes of the supervisor's process group that are the supervisor's code."""
    result = subprocess.run(
        ["ps", "-A", "-o", "pid=,pgid=,command="], capture_output=True, text=True
    )
    found = []
    for line in result.stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1] == str(pgid) and "bootstrap.localstack" in fields[2]:
            found.append(int(fields[0]))
    return found


def child_pids(paths: Paths) -> dict[str, int]:
    try:
        lines = paths.pids.read_text().splitlines()
    except OSError:
        return {}
    return {name: int(pid) for name, pid in (line.split() for line in lines if line.strip())}


def start(processes: tuple[Process, ...], stack: StackSettings) -> int:
    """Start honcho in the background with this plan; returns its pid."""
    paths = Paths(stack.data_dir)
    for directory in (paths.data_dir, paths.minio_data, paths.nginx_prefix):
        directory.mkdir(parents=True, exist_ok=True)
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
            [sys.executable, "-m", "bootstrap.localstack"],
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


# --- the background supervisor: python -m bootstrap.localstack ------------------------------------


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
