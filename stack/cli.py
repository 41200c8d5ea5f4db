"""Commands that run the whole stack on this machine: up, down, env-init (`make up`/`make down`)."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass

import click

from common.cli import CONTEXT, fail, json_option, package_group
from common.errors import EXIT_CODES_HELP, ConfigError, ExitCode, StackError
from stack import compose, envfile
from stack import settings as stack_mod
from stack.settings import StackSettings

MODES = ("auto", "docker", "native")
mode_option = click.option(
    "--mode",
    type=click.Choice(MODES),
    default="auto",
    show_default=True,
    help="docker: Docker Compose; native: local processes under honcho; auto: docker when "
    "`docker info` succeeds.",
)


@dataclass(frozen=True)
class Endpoints:
    mode: str
    api_url: str
    console_url: str
    signer_url: str
    bucket: str
    credentials_file: str
    data: str
    log: str | None

    def __str__(self) -> str:
        lines = [
            f"  API:          {self.api_url}",
            f"  Console:      {self.console_url}  (MINIO_ROOT_USER / MINIO_ROOT_PASSWORD)",
            f"  Signer:       {self.signer_url}  (Bearer token: one of SIGNER_API_TOKENS)",
            f"  Bucket:       {self.bucket}",
            f"  Credentials:  {self.credentials_file}",
            f"  Data:         {self.data}",
        ]
        if self.log:
            lines.append(f"  Logs:         {self.log}")
        return "\n".join(lines)


# The native stack's modules (stack.native, stack.plan, stack.supervisor) are imported inside
# the functions that use them: they load the console and signer settings (jinja2, PyJWT,
# cryptography), which every other minio-stack command would pay for at start-up.


def _endpoints(
    stack: StackSettings, config: dict[str, str], mode: str, nodes: int = 1
) -> Endpoints:
    from stack.plan import Paths

    is_native = mode == "native"
    paths = Paths(stack.data_dir)
    data = paths.cluster_data if nodes > 1 else paths.minio_data
    return Endpoints(
        mode=mode,
        api_url=stack.api_url,
        console_url=stack.console_url,
        signer_url=stack.signer_url,
        bucket=config.get("MINIO_BUCKET", "(MINIO_BUCKET is not set)"),
        credentials_file=str(stack.env_file),
        data=str(data) if is_native else "the Docker volume minio-stack_minio-data",
        log=str(paths.log) if is_native else None,
    )


def _report(endpoints: Endpoints, headline: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"ok": True, "status": headline, **asdict(endpoints)}))
    else:
        click.echo(
            f"minio-stack is {headline} ({endpoints.mode})\n{endpoints}\nStop it with: make down"
        )


def _load(environ: dict[str, str], *, create: bool) -> tuple[StackSettings, dict[str, str]]:
    """The stack's settings and .env; a bad STACK_* setting is an error here and now."""
    stack, config, problems = _read(environ, create=create)
    if problems:
        raise ConfigError(problems)
    return stack, config


def _read(
    environ: dict[str, str], *, create: bool
) -> tuple[StackSettings, dict[str, str], list[tuple[str, str]]]:
    """``_load`` that returns the STACK_* problems instead of raising them, so a native `up`
    can list them with every other bad setting."""
    env_path = stack_mod.env_file_path(environ)
    example = stack_mod.ROOT / ".env.example"
    # Check the STACK_* settings before creating anything (the example's, on a first run).
    source = env_path if env_path.exists() else example
    stack, problems = stack_mod.read(environ, envfile.read(source) if source.exists() else {})
    if problems and not env_path.exists():
        # Nothing else to check yet (.env would be made from the example): create nothing.
        raise ConfigError(problems)
    if create:
        result = envfile.init(env_path, example)
        if result.created:
            click.echo(
                f"created {result.path} (mode 0600) with generated {', '.join(result.generated)}",
                err=True,
            )
    return stack, envfile.read(env_path) if env_path.exists() else {}, problems


def _use_docker(mode: str) -> bool:
    return mode == "docker" or (mode == "auto" and compose.engine_available())


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@mode_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=300.0,
    show_default=True,
    help="Seconds to wait for every service to answer its health check.",
)
@click.option(
    "--nodes",
    type=click.IntRange(1, 16),
    default=1,
    show_default=True,
    help="MinIO processes: more than 1 runs a distributed, erasure-coded MinIO (2 drives per "
    "node) behind an nginx balancer on STACK_API_PORT; native only (with Docker, use "
    "docker-compose.distributed.yaml).",
)
@json_option
def up(mode: str, timeout: float, nodes: int, as_json: bool) -> None:
    """Start MinIO, the signer and the console proxy, wait until healthy, print the URLs.

    On first run, creates .env from .env.example with generated secrets (never overwrites it).
    With a Docker engine: `docker compose up --wait`. Without one: the same three services as
    local processes on 127.0.0.1, run in the background by honcho. Already up: says so, exits 0.
    `--nodes 4` (`make up NODES=4`): MinIO as 4 local processes, distributed and erasure-coded.
    """
    environ = dict(os.environ)
    try:
        if nodes > 1 and mode == "docker":
            why = "a distributed MinIO runs natively (--mode native); with Docker use "
            instead = "docker compose -f docker-compose.distributed.yaml up --wait"
            raise ConfigError([("--nodes", why + instead)])
        if nodes > 1:
            mode = "native"
        stack, config, problems = _read(environ, create=True)
        if _use_docker(mode):
            if problems:
                raise ConfigError(problems)
            headline = "already up" if compose.running(stack, environ) else "up"
            if headline == "up":
                compose.up(stack, environ, timeout)
            _report(_endpoints(stack, config, "docker"), headline, as_json)
            sys.exit(int(ExitCode.OK))
        if _native_running(stack):
            if problems:
                raise ConfigError(problems)
            _report(_endpoints(stack, config, "native"), "already up", as_json)
            sys.exit(int(ExitCode.OK))
        _start_native(stack, config, environ, nodes, timeout, problems)
    except StackError as exc:
        fail(exc, as_json)
    _report(_endpoints(stack, config, "native", nodes), "up", as_json)
    sys.exit(int(ExitCode.OK))


def _native_running(stack: StackSettings) -> bool:
    from stack import supervisor
    from stack.plan import Paths

    return supervisor.running_pid(Paths(stack.data_dir)) is not None


def _start_native(
    stack: StackSettings,
    config: dict[str, str],
    environ: dict[str, str],
    nodes: int,
    timeout: float,
    problems: list[tuple[str, str]],
) -> None:
    """Plan, check (every bad setting at once, ``problems`` included), start in the
    background, wait until healthy; stop everything if it is not."""
    from stack import native, supervisor

    planned = native.prepare(
        stack, config, environ, nodes, settings_problems=problems, check_ports=True
    )
    pid = native.launch(planned)
    log = planned.paths.log
    click.echo(
        f"starting {', '.join(planned.names)} under honcho (pid {pid}); log: {log}", err=True
    )
    try:
        supervisor.wait_healthy(planned, pid, timeout)
    except StackError:
        supervisor.stop(stack)  # nothing half-started stays behind
        click.echo(supervisor.log_tail(planned.paths), err=True)
        raise


@click.command(context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@mode_option
@json_option
def down(mode: str, as_json: bool) -> None:
    """Stop everything `up` started; data (.data/ or the Docker volume) and .env stay."""
    from stack import supervisor
    from stack.plan import Paths

    environ = dict(os.environ)
    try:
        stack, _ = _load(environ, create=False)
        paths = Paths(stack.data_dir)
        stopped: list[str] = []
        killed: list[str] = []
        if mode != "docker" and (supervisor.running_pid(paths) or supervisor.child_pids(paths)):
            killed = supervisor.stop(stack)
            stopped.append("native")
        elif mode != "native" and _use_docker(mode):
            compose.down(stack, environ)
            stopped.append("docker")
    except StackError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(json.dumps({"ok": True, "stopped": stopped, "killed": killed}))
    elif stopped:
        note = f" (had to kill: {', '.join(killed)})" if killed else ""
        click.echo(
            f"minio-stack is down ({stopped[0]}){note}; data kept in {_data(stack, stopped[0])}"
        )
    else:
        click.echo("minio-stack is not running")
    sys.exit(int(ExitCode.OK))


def _data(stack: StackSettings, mode: str) -> str:
    from stack.plan import Paths

    return str(Paths(stack.data_dir).minio_data) if mode == "native" else "the Docker volume"


@click.command("env-init", context_settings=CONTEXT, epilog=EXIT_CODES_HELP)
@json_option
def env_init(as_json: bool) -> None:
    """Create .env from .env.example with generated secrets (mode 0600); never overwrite it."""
    try:
        result = envfile.init(stack_mod.env_file_path(os.environ), stack_mod.ROOT / ".env.example")
    except StackError as exc:
        fail(exc, as_json)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "ok": True,
                    "path": str(result.path),
                    "created": result.created,
                    "generated": list(result.generated),
                }
            )
        )
    elif result.created:
        click.echo(
            f"created {result.path} (mode 0600) with generated {', '.join(result.generated)}"
        )
    else:
        click.echo(f"{result.path} exists; left as it is")
    sys.exit(int(ExitCode.OK))


# The root group (minio_stack/cli.py) adds every command listed here.
COMMANDS: list[click.Command] = [up, down, env_init]


main = package_group("stack", "The local stack's commands alone: up, down, env-init.", COMMANDS)
