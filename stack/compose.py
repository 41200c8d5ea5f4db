"""The stack under Docker Compose (docker-compose.yaml), when a Docker engine answers.

Compose itself (the ``docker compose`` CLI) creates, builds and recreates the services: only it
knows the file's model. Watching them is done through the Docker Engine API (the ``docker``
SDK), which serves better than ``docker compose up --wait`` and ``docker compose ps``: one
call gives every service's container state and health, so ``make up`` reports each service as
it changes, and a service that exits, restarts or turns unhealthy fails the wait at once with
its own last log lines instead of "container ... is unhealthy" after the whole timeout. The
SDK finds the project's containers by the labels Compose puts on them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import docker
import yaml
from docker.context import ContextAPI

from common.errors import StackError
from stack.envfile import is_managed
from stack.settings import StackSettings

COMPOSE_FILE = "docker-compose.yaml"
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
LOG_LINES = 40
DEFAULT_TIMEOUT = 300.0
API_TIMEOUT = 30  # seconds for one Engine API call
Report = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


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


def compose_environ(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment `docker compose` runs in: the shell's, without what .env configures.

    Compose's interpolation prefers the shell's value to --env-file's, so an exported
    MINIO_ROOT_PASSWORD would win over .env (and over a rotation that just rewrote it), and the
    native stack, which never lets the shell's values in, would run with another configuration.
    STACK_* stay: they come from the shell first in both modes (the published ports).
    """
    return {k: v for k, v in environ.items() if k.startswith("STACK_") or not is_managed(k)}


def compose(stack: StackSettings, environ: Mapping[str, str], *args: str) -> None:
    """Run `docker compose -f docker-compose.yaml ARGS` in the checkout; output goes to the user."""
    command = _command(stack, *args)
    try:
        result = subprocess.run(command, cwd=stack.root, env=compose_environ(environ))
    except OSError as exc:
        raise StackError(f"cannot run docker: {exc.strerror}", hint="install Docker") from None
    if result.returncode != 0:
        raise StackError(
            f"`docker compose {' '.join(args)}` failed (exit {result.returncode})",
            hint="see its output above; `docker compose logs` shows the services' logs",
        )


# --- the Engine API -------------------------------------------------------------------------


def client(environ: Mapping[str, str]) -> Any:
    """The engine `docker compose` talks to, through its API: DOCKER_HOST when set, else the
    current Docker context's endpoint (Docker Desktop's socket is not /var/run/docker.sock
    everywhere). StackError when it does not answer."""
    try:
        if environ.get("DOCKER_HOST"):
            return docker.from_env(environment=dict(environ), timeout=API_TIMEOUT)
        context = ContextAPI.get_context(environ.get("DOCKER_CONTEXT"))
        if context is None:
            raise docker.errors.DockerException(f"no Docker context {environ['DOCKER_CONTEXT']}")
        return docker.DockerClient(
            base_url=context.Host, tls=context.TLSConfig or False, timeout=API_TIMEOUT
        )
    except docker.errors.DockerException as exc:
        raise StackError(
            f"cannot reach the Docker engine's API: {exc}",
            hint="the engine `docker compose` uses must answer; check DOCKER_HOST or "
            "`docker context ls`",
        ) from None


def project_name(stack: StackSettings, environ: Mapping[str, str]) -> str:
    """The Compose project, as Compose names it: COMPOSE_PROJECT_NAME, else the file's
    ``name:``, else the checkout's directory."""
    if environ.get("COMPOSE_PROJECT_NAME"):
        return environ["COMPOSE_PROJECT_NAME"]
    doc = yaml.safe_load((stack.root / COMPOSE_FILE).read_text()) or {}
    return str(doc.get("name") or stack.root.name)


def service_names(stack: StackSettings) -> list[str]:
    doc = yaml.safe_load((stack.root / COMPOSE_FILE).read_text()) or {}
    return list(doc.get("services") or {})


@dataclass(frozen=True)
class ServiceState:
    """One service's container as the engine reports it."""

    service: str
    container: str  # "" when the service has no container (yet)
    status: str  # created | running | restarting | paused | exited | dead | missing
    health: str  # starting | healthy | unhealthy | "" without a healthcheck
    exit_code: int = 0

    @property
    def failed(self) -> bool:
        """Exited with an error, crash-looping (restarting) or unhealthy: waiting longer
        cannot help."""
        if self.status in ("exited", "dead"):
            return self.exit_code != 0 or self.status == "dead"
        return self.status == "restarting" or self.health == "unhealthy"

    @property
    def up(self) -> bool:
        """Running and, with a healthcheck, healthy; or a one-off that exited 0."""
        if self.status == "exited":
            return self.exit_code == 0
        return self.status == "running" and self.health in ("", "healthy")

    def __str__(self) -> str:
        if self.status in ("exited", "dead"):
            return f"{self.status} (exit code {self.exit_code})"
        return f"{self.status}, {self.health}" if self.health else self.status


def states(api: Any, project: str, services: Iterable[str] = ()) -> dict[str, ServiceState]:
    """Every service's state (``services`` are listed even without a container)."""
    out = {name: ServiceState(name, "", "missing", "") for name in services}
    found = api.containers.list(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    for container in found:
        service = container.labels.get(SERVICE_LABEL, container.name)
        state = container.attrs.get("State") or {}
        out[service] = ServiceState(
            service,
            container.name,
            str(state.get("Status") or container.status),
            str((state.get("Health") or {}).get("Status") or ""),
            int(state.get("ExitCode") or 0),
        )
    return out


def logs_tail(api: Any, container: str, lines: int = LOG_LINES) -> str:
    """The container's last ``lines`` lines of output (stdout and stderr)."""
    try:
        raw = api.containers.get(container).logs(tail=lines, stdout=True, stderr=True)
    except docker.errors.DockerException as exc:
        return f"(its log could not be read: {exc})"
    return bytes(raw).decode("utf-8", "replace").rstrip()


def _with_logs(api: Any, headline: str, problems: Sequence[ServiceState]) -> str:
    parts = [headline]
    for state in problems:
        if state.container:
            parts.append(f"--- {state.service} ({state}): last lines of its log ---")
            parts.append(logs_tail(api, state.container) or "(empty)")
    return "\n".join(parts)


def wait(
    api: Any,
    project: str,
    services: Sequence[str],
    timeout: float,
    *,
    ready: Callable[[], bool] | None = None,
    report: Report | None = _stderr,
    poll: float = 1.0,
) -> dict[str, ServiceState]:
    """Until every one of ``services`` is up (``ServiceState.up``); given ``ready``, until it
    says so instead, the services' containers still watched for failure. Each service's state
    is reported when it changes. A failed service stops the wait at once; so does the timeout.
    Either raises StackError naming the services, with their last log lines."""
    deadline = time.monotonic() + timeout
    seen: dict[str, str] = {}
    while True:
        now = states(api, project, services)
        watched = [now[name] for name in services]
        for state in watched:
            if report is not None and seen.get(state.service) != str(state):
                report(f"  {state.service}: {state}")
            seen[state.service] = str(state)
        failed = [s for s in watched if s.failed]
        if failed:
            names = ", ".join(s.service for s in failed)
            raise StackError(
                _with_logs(api, f"{names} failed to start", failed),
                hint="fix what its log says, then run it again",
            )
        if ready() if ready is not None else all(s.up for s in watched):
            return now
        if time.monotonic() > deadline:
            late = [s for s in watched if not s.up] or watched
            names = ", ".join(f"{s.service} ({s})" for s in late)
            raise StackError(
                _with_logs(api, f"not up after {timeout:g}s: {names}", late),
                hint="raise --timeout if the machine is slow",
            )
        time.sleep(poll)


# --- what `make up` / `make down` run --------------------------------------------------------


def up(
    stack: StackSettings,
    environ: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT,
    report: Report | None = _stderr,
) -> dict[str, ServiceState]:
    """`docker compose up --detach --build`, then every service watched until it is up."""
    api = client(environ)  # before building: an API that does not answer fails at once
    project = project_name(stack, environ)
    services = service_names(stack)
    try:
        compose(stack, environ, "up", "--detach", "--build")
    except StackError as exc:
        # Compose waits for depends_on conditions itself, and fails with one line naming a
        # container: add what each failed service said.
        failed = [s for s in states(api, project, services).values() if s.failed]
        if failed:
            raise StackError(_with_logs(api, exc.message, failed), hint=exc.hint) from None
        raise
    if report is not None:
        report(f"waiting for {', '.join(services)} (at most {timeout:g}s):")
    return wait(api, project, services, timeout, report=report)


def down(stack: StackSettings, environ: Mapping[str, str]) -> None:
    # No --volumes: the data volume survives down/up.
    compose(stack, environ, "down")


def running(stack: StackSettings, environ: Mapping[str, str]) -> bool:
    """Some service of this project is running (so `up` has nothing to start)."""
    try:
        api = client(environ)
        found = states(api, project_name(stack, environ))
    except (StackError, docker.errors.DockerException, OSError):
        return False
    return any(state.status == "running" for state in found.values())
