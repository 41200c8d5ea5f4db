"""What must hold before the native stack starts anything, each problem named with its fix.

The programs are installed (``find_tools``: the planner's input), every program accepts the
environment the plan gives it (``validate``: each one's own settings loader, all problems at
once), and nothing else listens on the plan's ports (``busy_ports``). Only reads: nothing here
writes a file or starts a process.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import sys
from collections.abc import Callable, Iterable
from pathlib import Path

from bootstrap import settings as bootstrap_settings
from common.errors import ConfigError, StackError
from console.render import ConsoleSettings
from signer import settings as signer_settings
from stack.plan import PortCheck, Process, Tools
from stack.settings import LOOPBACK, StackSettings

# Beyond PATH: where Debian and Homebrew put nginx, often not on a user's PATH.
NGINX_FALLBACK_PATH = "/usr/sbin:/usr/local/sbin:/opt/homebrew/bin"


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
    nginx = shutil.which("nginx") or shutil.which("nginx", path=NGINX_FALLBACK_PATH)
    if nginx is None:
        raise StackError(
            "nginx is not installed",
            hint="install it (Debian/Ubuntu: apt-get install nginx; macOS: brew install nginx)",
        )
    user = pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None
    return Tools(minio, minio_stack, Path(sys.executable), Path(nginx), user)


def validate(processes: Iterable[Process], stack: StackSettings) -> None:
    """Each program's own settings loader on the environment it will get; every problem at once."""
    by_name = {p.name: p.env for p in processes}
    problems: list[tuple[str, str]] = []
    checks: list[Callable[[], object]] = [
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


def busy_ports(ports: PortCheck) -> list[tuple[str, str]]:
    """(variable, why) for every planned port that clashes or that something already uses."""
    problems = list(ports.clashes)
    for name, port in ports.wanted.items():
        if not _bindable(port):
            problems.append(
                (
                    name,
                    f"port {port} on {LOOPBACK} is in use; stop what uses it or set "
                    f"{name.split('+', 1)[0]}",
                )
            )
    return problems


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the servers themselves do: a closed connection's TIME_WAIT is not "in use".
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((LOOPBACK, port))
        except OSError:
            return False
        return True
