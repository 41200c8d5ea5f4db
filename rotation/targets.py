"""Where root and signer credentials live, and how a deployment is made to use new ones.

A target reads the deployment's current configuration, writes a few variables into it, and
restarts what must re-read them:

- native:  the `make up` stack's .env, then a restart of the stack (native.py);
- compose: the same .env (Compose interpolates it: ``--env-file``), then
  ``docker compose up --detach SERVICE``;
- render:  the service's environment through Render's API, then a deploy, polled until live.

Restarting runs through an injectable ``runner`` for Compose (the command line is the
contract; there may be no Docker engine where tests run). Compose's wait for health watches
the recreated containers through the Docker Engine API (stack.compose.wait), so one that
exits or turns unhealthy fails the rotation at once, with its own last log lines.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from bootstrap import settings as bootstrap_settings
from bootstrap.health import probe, wait_ready
from bootstrap.settings import Credentials
from common.errors import ConfigError, StackError, TemporaryError
from rotation import envedit, native
from rotation.render_api import RenderApi
from rotation.settings import RenderSettings, RotationSettings
from stack import compose, envfile

TARGETS = ("native", "compose", "render")
ROOT_USER, ROOT_PASSWORD = "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"
SIGNER_ACCESS, SIGNER_SECRET = "SIGNER_ACCESS_KEY", "SIGNER_SECRET_KEY"

Runner = Callable[[Sequence[str]], int]


@dataclass(frozen=True)
class Deployment:
    """What a target is configured with right now."""

    endpoint: str
    region: str
    root: Credentials
    signer: Credentials | None
    buckets: tuple[str, ...]  # the buckets the signer serves
    where: str  # where the credentials are kept, for people


class Target(Protocol):
    name: str

    def read(self) -> Deployment: ...

    def write(self, values: Mapping[str, str]) -> str: ...

    def restart(self, services: Sequence[str]) -> str: ...

    def wait_healthy(self, endpoint: str) -> None: ...


@dataclass
class EnvFileTarget:
    """The .env file `make up` and Docker Compose both read."""

    settings: RotationSettings
    name: str = "env-file"

    def read(self) -> Deployment:
        path = self.settings.env_file
        config = envfile.read(path)
        envedit.check_no_file_variants(
            config, [ROOT_USER, ROOT_PASSWORD, SIGNER_ACCESS, SIGNER_SECRET], path
        )
        # The stack's own API URL, whatever MINIO_ENDPOINT says: that is where MinIO runs.
        config = {k: v for k, v in config.items() if k != "MINIO_ENDPOINT"}
        try:
            loaded = bootstrap_settings.load(config, default_endpoint=self.settings.stack.api_url)
        except ConfigError as exc:
            raise ConfigError([(f"{n} (in {path.name})", why) for n, why in exc.problems]) from None
        signer = next((b.signer for b in loaded.buckets if b.signer), None)
        buckets = tuple(sorted(loaded.signer_buckets(signer.access_key))) if signer else ()
        return Deployment(loaded.endpoint, loaded.region, loaded.root, signer, buckets, str(path))

    def write(self, values: Mapping[str, str]) -> str:
        saved = envedit.rewrite(self.settings.env_file, values)
        return f"{', '.join(values)} written to {self.settings.env_file} (backup: {saved.name})"

    def wait_healthy(self, endpoint: str) -> None:
        wait_ready(endpoint, self.settings.timeout)


@dataclass
class NativeTarget(EnvFileTarget):
    name: str = "native"

    def restart(self, services: Sequence[str]) -> str:
        # A stopped stack is started: a rollback after a restart that died must bring it back.
        # Someone else's server on the stack's ports is refused by the port check, untouched.
        native.restart(self.settings.stack, self.settings.environ, self.settings.timeout)
        return "native stack restarted (honcho restarts minio, signer and console together)"


def _run_docker(settings: RotationSettings) -> Runner:
    def run(command: Sequence[str]) -> int:
        try:
            # Docker's progress goes to stderr: stdout carries --json output.
            return subprocess.run(
                list(command),
                cwd=settings.stack.root,
                env=compose.compose_environ(settings.environ),
                stdout=sys.stderr,
                timeout=settings.timeout,
            ).returncode
        except OSError as exc:
            raise StackError(f"cannot run docker: {exc.strerror}", hint="install Docker") from None
        except subprocess.TimeoutExpired:
            raise StackError(f"docker compose did not finish in {settings.timeout:g}s") from None

    return run


def _answers(endpoint: str) -> bool:
    try:
        probe(endpoint)
    except TemporaryError:
        return False
    return True


@dataclass
class ComposeTarget(EnvFileTarget):
    name: str = "compose"
    runner: Runner | None = None
    restarted: tuple[str, ...] = ("minio",)

    def command(self, services: Sequence[str]) -> list[str]:
        stack = self.settings.stack
        return [
            "docker",
            "compose",
            "-f",
            str(stack.root / compose.COMPOSE_FILE),
            "--env-file",
            str(stack.env_file),
            "up",
            "--detach",
            *services,
        ]

    def restart(self, services: Sequence[str]) -> str:
        command = self.command(services)
        run = self.runner or _run_docker(self.settings)
        code = run(command)
        if code != 0:
            raise StackError(
                f"`docker compose up --detach {' '.join(services)}` failed (exit {code})",
                hint="its output is above; `docker compose logs` shows the services' logs",
            )
        self.restarted = tuple(services)
        return f"docker compose up --detach {' '.join(services)}"

    def wait_healthy(self, endpoint: str) -> None:
        """MinIO answers on ``endpoint`` (live, cluster, S3 API), while the containers just
        recreated are watched through the Engine API. Where that API does not answer, the
        endpoint alone, and the note says so."""
        environ = self.settings.environ
        try:
            api = compose.client(environ)
        except StackError as exc:
            print(f"note: {exc.message}; waiting on {endpoint} alone", file=sys.stderr)
            super().wait_healthy(endpoint)
            return
        project = compose.project_name(self.settings.stack, environ)
        compose.wait(
            api,
            project,
            self.restarted,
            self.settings.timeout,
            ready=lambda: _answers(endpoint),
            report=None,
        )


@dataclass
class RenderTarget:
    render: RenderSettings
    timeout: float
    api: RenderApi = field(init=False)
    name: str = "render"
    _values: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.api = RenderApi(self.render.api_url, self.render.api_key)

    def read(self) -> Deployment:
        r = self.render
        root = Credentials(
            self._values.get(ROOT_USER, r.root.access_key),
            self._values.get(ROOT_PASSWORD, r.root.secret_key),
        )
        return Deployment(
            r.endpoint,
            r.region,
            root,
            r.signer,
            (r.bucket,) if r.bucket and r.signer else (),
            f"Render service {r.service_id} (Environment)",
        )

    def write(self, values: Mapping[str, str]) -> str:
        for key, value in values.items():
            self.api.set_env_var(self.render.service_id, key, value)
            self._values[key] = value
        return f"{', '.join(values)} set on Render service {self.render.service_id}"

    def restart(self, services: Sequence[str]) -> str:
        if list(services) != ["minio"]:
            raise StackError("on Render only the minio-server service is restarted by rotation")
        deploy = self.api.trigger_deploy(self.render.service_id)
        self.api.wait_live(self.render.service_id, deploy, self.timeout, self.render.deploy_poll)
        return f"Render deploy {deploy} is live"

    def wait_healthy(self, endpoint: str) -> None:
        wait_ready(endpoint, self.timeout)


def make(name: str, settings: RotationSettings, runner: Runner | None = None) -> Target:
    if name == "native":
        return NativeTarget(settings)
    if name == "compose":
        return ComposeTarget(settings, runner=runner)
    if name == "render":
        assert settings.render is not None  # settings.load(target="render") built it
        return RenderTarget(settings.render, settings.timeout)
    raise ValueError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}")
