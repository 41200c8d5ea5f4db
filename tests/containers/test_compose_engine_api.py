"""`make up`'s Docker mode and `rotate-root --target compose` against a real engine: the Docker
Engine API that podman serves (`podman system service`), driven by the project's own code.

stack/compose.py watches docker-compose.yaml's services through the `docker` SDK: it reports
each service's state as it changes, and a service that fails stops the wait at once with its
own last log lines. The compose rotation target recreates MinIO with `docker compose up
--detach minio` and watches it the same way. `docker compose` itself is not installed here:
tests/containers/compose.py runs the file with podman, with the labels Compose puts on
containers (the SDK finds the project by them), and it stands in for that one command line.
Nothing runs healthchecks on a timer here (podman's timer is systemd's), so where a test waits
on Docker's health status, a thread runs them as Docker's engine would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from bootstrap.settings import Credentials
from common.errors import StackError
from rotation import root, targets
from rotation import settings as rotation_settings
from rotation.checks import Server
from rotation.report import Outcome
from rotation.state import Journal, journal_paths
from stack import compose
from stack import settings as stack_settings
from tests.containers.compose import Project, read_env_file
from tests.containers.conftest import Images
from tests.containers.engine import IMAGES, ROOT, TEST_TIMEOUT, Container, Engine, free_port
from tests.rotation.stack import refusal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT)]

COMPOSE_FILE = ROOT / "docker-compose.yaml"
READY_TIMEOUT = 180
PORTS = ("STACK_API_PORT", "STACK_CONSOLE_PORT", "STACK_SIGNER_PORT")
SERVICES = ["minio", "console", "signer"]


@dataclass
class Deployed:
    """docker-compose.yaml up, and the environment `make up` and `rotate-root` run with."""

    engine: Engine = field(repr=False)
    env_path: Path
    ports: dict[str, str]
    workdir: Path
    name: str
    environ: dict[str, str] = field(repr=False)
    commands: list[list[str]] = field(default_factory=list)
    # Values the next `up` takes over the env file's: a way to break a restart on purpose.
    override: dict[str, str] = field(default_factory=dict)

    def project(self) -> Project:
        # As `docker compose --env-file FILE` does on every run: the file is read again.
        variables = {**read_env_file(self.env_path), **self.ports, **self.override}
        variables["STACK_ENV_FILE"] = str(self.env_path)
        return Project(self.engine, COMPOSE_FILE, variables, self.workdir, name=self.name)

    def run(self, command: Sequence[str]) -> int:
        """The rotation's runner: `docker compose -f FILE --env-file ENV up --detach SERVICE…`
        done as Compose does it (a service whose configuration changed is recreated)."""
        args = list(command)
        self.commands.append(args)
        assert args[:2] == ["docker", "compose"] and "up" in args and "--detach" in args, args
        assert Path(args[args.index("-f") + 1]) == COMPOSE_FILE
        assert Path(args[args.index("--env-file") + 1]) == self.env_path
        self.project().up(*args[args.index("--detach") + 1 :], timeout=READY_TIMEOUT)
        self.override.clear()
        return 0

    def stack(self) -> stack_settings.StackSettings:
        return stack_settings.load(self.environ, read_env_file(self.env_path))

    def api(self) -> Any:
        return compose.client(self.environ)

    def token(self) -> str:
        return read_env_file(self.env_path)["SIGNER_API_TOKENS"].split(",")[0]

    def root(self) -> Credentials:
        env = read_env_file(self.env_path)
        return Credentials(env["MINIO_ROOT_USER"], env["MINIO_ROOT_PASSWORD"])


@pytest.fixture(scope="module")
def deployed(
    engine: Engine,
    images: Images,
    env_file: Path,
    engine_api_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Deployed]:
    for name in IMAGES:
        images(name)
    home = tmp_path_factory.mktemp("compose-api")
    env_path = home / ".env"  # this module's own: the rotation rewrites it
    shutil.copy(env_file, env_path)
    env_path.chmod(0o600)
    ports = {name: str(free_port()) for name in PORTS}
    name = "compose-api"
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DOCKER_HOST": engine_api_url,
        "COMPOSE_PROJECT_NAME": engine.name(name),
        "STACK_ENV_FILE": str(env_path),
        **ports,
    }
    up = Deployed(engine, env_path, ports, home, name, environ)
    project = up.project()
    try:
        project.up(timeout=READY_TIMEOUT)
        yield up
    finally:
        project.down(volumes=True)


@contextlib.contextmanager
def health_timer(engine: Engine, containers: Sequence[Container]) -> Iterator[None]:
    """Run each container's healthcheck every second, as Docker's engine does on its own."""
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(1.0):
            for container in containers:
                container.healthcheck()

    thread = threading.Thread(target=tick, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(90)


def test_make_up_watches_every_service_through_the_engine_api(
    deployed: Deployed, engine: Engine
) -> None:
    project = deployed.project()
    assert compose.service_names(deployed.stack()) == SERVICES
    assert compose.project_name(deployed.stack(), deployed.environ) == project.prefix
    lines: list[str] = []
    with health_timer(engine, [project.container(name) for name in SERVICES]):
        states = compose.wait(
            deployed.api(), project.prefix, SERVICES, READY_TIMEOUT, report=lines.append
        )
    assert {name: (s.status, s.health, s.up) for name, s in states.items()} == {
        name: ("running", "healthy", True) for name in SERVICES
    }
    for name in SERVICES:  # each service's state, as it last changed
        assert f"  {name}: running, healthy" in lines, lines
    assert compose.running(deployed.stack(), deployed.environ)
    elsewhere = {**deployed.environ, "COMPOSE_PROJECT_NAME": engine.name("not-started")}
    assert not compose.running(deployed.stack(), elsewhere)


def test_a_service_that_fails_is_named_with_its_own_log(deployed: Deployed, engine: Engine) -> None:
    # A MinIO that cannot start: the entrypoint refuses a bad setting and exits 2.
    project = engine.name("broken")
    name = engine.name("broken", "minio")
    engine.podman(
        "run", "--detach", "--name", name, "--label", engine.label,
        "--label", f"{compose.PROJECT_LABEL}={project}",
        "--label", f"{compose.SERVICE_LABEL}=minio",
        "--health-interval", "disable", "--env", "MINIO_BUCKET=Bad_Bucket",
        "--env", "MINIO_ROOT_USER=minio-stack-admin", IMAGES["minio"].ref,
    )  # fmt: skip
    try:
        with pytest.raises(StackError) as caught:
            compose.wait(deployed.api(), project, ["minio"], 60, report=None)
    finally:
        engine.podman("rm", "--force", "--volumes", name, check=False)
    message = caught.value.message
    assert message.startswith("minio failed to start\n--- minio (exited (exit code 2)): "), message
    assert "MINIO_BUCKET: 'Bad_Bucket' may only contain lowercase letters" in message


def upload(deployed: Deployed, body: bytes) -> dict[str, Any]:
    signer = f"http://127.0.0.1:{deployed.ports['STACK_SIGNER_PORT']}"
    auth = {"Authorization": f"Bearer {deployed.token()}"}
    intent = requests.post(
        f"{signer}/v1/uploads/presign",
        json={"content_type": "text/plain", "size_bytes": len(body)},
        headers=auth,
        timeout=30,
    )
    assert intent.status_code == 200, intent.text
    put = intent.json()["upload"]
    assert requests.put(put["url"], data=body, headers=put["headers"], timeout=30).ok
    done = requests.post(
        f"{signer}/v1/uploads/complete",
        json={"intent_token": intent.json()["intent_token"]},
        headers=auth,
        timeout=30,
    )
    assert done.status_code == 200, done.text
    return dict(done.json())


def container_ids(engine: Engine, project: Project) -> dict[str, str]:
    return {
        name: engine.inspect("container", project.container(name).name)["Id"] for name in SERVICES
    }


def rotate(deployed: Deployed) -> Outcome:
    settings = rotation_settings.load(deployed.environ, target="compose")
    target = targets.make("compose", settings, runner=deployed.run)
    journal, _, _ = journal_paths(settings.env_file)
    return root.rotate(target, Journal(journal, root.COMMAND))


def test_rotate_root_recreates_minio_on_the_engine_and_keeps_the_data(
    deployed: Deployed, engine: Engine, capfd: pytest.CaptureFixture[str]
) -> None:
    project = deployed.project()
    project.container("signer").wait_healthy(READY_TIMEOUT)
    body = b"uploaded before the root password changed\n"
    done = upload(deployed, body)
    old, before = deployed.root(), container_ids(engine, project)

    outcome = rotate(deployed)

    assert outcome.ok, f"{outcome.failed_step}: {outcome.error}"
    assert "waiting on" not in capfd.readouterr().err  # watched through the API, no fallback
    new = deployed.root()
    assert new.access_key == old.access_key and new.secret_key != old.secret_key
    assert deployed.commands == [
        ["docker", "compose", "-f", str(COMPOSE_FILE), "--env-file", str(deployed.env_path),
         "up", "--detach", "minio"],
    ]  # fmt: skip
    after = container_ids(engine, project)
    # Compose recreated MinIO (its configuration changed) and left the others alone.
    assert after["minio"] != before["minio"]
    assert (after["signer"], after["console"]) == (before["signer"], before["console"])
    server = Server(f"http://127.0.0.1:{deployed.ports['STACK_API_PORT']}", "us-east-1")
    assert refusal(server, old) in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
    assert refusal(server, new) is None
    # The data is intact, and URLs the signer issued before still work (its identity is its
    # own, not root's).
    got = requests.get(done["get_url"], timeout=30)
    assert got.status_code == 200 and got.content == body
    assert upload(deployed, b"and after\n")["size_bytes"] == len(b"and after\n")


def test_a_minio_that_dies_on_restart_fails_the_rotation_at_once_and_it_rolls_back(
    deployed: Deployed,
) -> None:
    old = deployed.root()
    # The recreated MinIO exits at once (its entrypoint refuses the bucket name): the watch
    # through the Engine API sees it and shows its log, where waiting on the endpoint alone
    # would have waited the whole rotation timeout (ROTATION_TIMEOUT, 5 minutes).
    deployed.override["MINIO_BUCKET"] = "Bad_Bucket"
    started = time.monotonic()
    outcome = rotate(deployed)
    took = time.monotonic() - started

    assert outcome.failed_step == "wait-healthy", outcome.failed_step
    assert "minio failed to start" in str(outcome.error)
    assert "MINIO_BUCKET: 'Bad_Bucket' may only contain lowercase letters" in str(outcome.error)
    assert outcome.rolled_back is True
    assert deployed.root() == old  # .env holds the old password again
    server = Server(f"http://127.0.0.1:{deployed.ports['STACK_API_PORT']}", "us-east-1")
    assert refusal(server, old) is None  # MinIO runs with it again
    assert took < 120, f"the rotation took {took:.0f}s to notice"
