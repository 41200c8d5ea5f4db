"""The stack under Docker Compose (docker-compose.yaml), when a Docker engine answers."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping

from common.errors import StackError
from stack.settings import StackSettings

COMPOSE_FILE = "docker-compose.yaml"


def engine_available() -> bool:
    """`docker info` succeeds: a client is installed and an engine answers it."""
    try:
        result = subprocess.run(["docker", "info"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _command(stack: StackSettings, *args: str) -> list[str]:
    return [
        "docker",
        "compose",
        "-f",
        str(stack.root / COMPOSE_FILE),
        "--env-file",
        str(stack.env_file),
        *args,
    ]


def compose(stack: StackSettings, environ: Mapping[str, str], *args: str) -> None:
    """Run `docker compose -f docker-compose.yaml ARGS` in the checkout; output goes to the user."""
    command = _command(stack, *args)
    try:
        # STACK_* in the environment reach Compose's interpolation (the published ports).
        result = subprocess.run(command, cwd=stack.root, env=dict(environ))
    except OSError as exc:
        raise StackError(f"cannot run docker: {exc.strerror}", hint="install Docker") from None
    if result.returncode != 0:
        raise StackError(
            f"`docker compose {' '.join(args)}` failed (exit {result.returncode})",
            hint="see its output above; `docker compose logs` shows the services' logs",
        )


def up(stack: StackSettings, environ: Mapping[str, str]) -> None:
    # --wait: return once every service with a healthcheck is healthy, fail if one is not.
    compose(stack, environ, "up", "--detach", "--build", "--wait")


def down(stack: StackSettings, environ: Mapping[str, str]) -> None:
    # No --volumes: the data volume survives down/up.
    compose(stack, environ, "down")


def running(stack: StackSettings, environ: Mapping[str, str]) -> bool:
    """Some service of this project is running (so `up` has nothing to start)."""
    command = _command(stack, "ps", "--quiet", "--status", "running")
    try:
        result = subprocess.run(
            command, cwd=stack.root, env=dict(environ), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0 and bool(result.stdout.strip())
