"""docker-compose.yaml, run under a real engine as `make up` runs it (tests/containers/compose.py
translates each service to `podman run`): the signer becomes ready, the console answers through
nginx, and a presign → PUT → complete → GET round trip works from the host with the URLs the
signer returns; every service runs as its fixed uid:gid, MinIO gets only its own settings,
ports bind 127.0.0.1 only, and the data survives `down` / `up`."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.containers.compose import Project, read_env_file
from tests.containers.conftest import Images
from tests.containers.engine import IMAGES, ROOT, TEST_TIMEOUT, Engine, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT)]

COMPOSE_FILE = ROOT / "docker-compose.yaml"
READY_TIMEOUT = 180
PORTS = ("STACK_API_PORT", "STACK_CONSOLE_PORT", "STACK_SIGNER_PORT")
# What only the signer may hold: MinIO's environment must not carry them.
SIGNER_ONLY = ("SIGNER_API_TOKENS", "SIGNER_TOKEN_SECRETS")


@dataclass
class Stack:
    project: Project
    env: dict[str, str] = field(repr=False)
    ports: dict[str, int]

    def url(self, port: str, path: str = "") -> str:
        return f"http://127.0.0.1:{self.ports[port]}{path}"

    @property
    def token(self) -> str:
        return self.env["SIGNER_API_TOKENS"].split(",")[0]

    def ready(self) -> None:
        self.project.container("signer").wait_healthy(READY_TIMEOUT)

    def presign(self, body: bytes) -> dict[str, Any]:
        answer = requests.post(
            self.url("STACK_SIGNER_PORT", "/v1/uploads/presign"),
            json={"content_type": "text/plain", "size_bytes": len(body)},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def complete(self, intent: dict[str, Any]) -> dict[str, Any]:
        answer = requests.post(
            self.url("STACK_SIGNER_PORT", "/v1/uploads/complete"),
            json={"intent_token": intent["intent_token"]},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


@pytest.fixture(scope="module")
def stack(
    engine: Engine, images: Images, env_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    for name in IMAGES:
        images(name)
    ports = {name: free_port() for name in PORTS}
    env = read_env_file(env_file)
    # Compose's interpolation: the env file `make up` passes with --env-file, then the shell.
    variables = {**env, **{k: str(v) for k, v in ports.items()}, "STACK_ENV_FILE": str(env_file)}
    project = Project(engine, COMPOSE_FILE, variables, tmp_path_factory.mktemp("compose"))
    try:
        project.up(timeout=READY_TIMEOUT)
        yield Stack(project, env, ports)
    finally:
        project.down(volumes=True)


def test_the_signer_becomes_ready(stack: Stack) -> None:
    stack.ready()
    assert requests.get(stack.url("STACK_SIGNER_PORT", "/readyz"), timeout=10).status_code == 200


def test_the_console_answers_through_nginx(stack: Stack) -> None:
    console = stack.project.container("console")
    console.wait_healthy(READY_TIMEOUT)
    # MinIO's console listens once MinIO does; the proxy must find it by its service name.
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = requests.get(stack.url("STACK_CONSOLE_PORT", "/"), timeout=10)
            if answer.status_code == 200 or time.monotonic() > deadline:
                break
        except requests.RequestException:
            if time.monotonic() > deadline:
                raise
        time.sleep(2)
    assert answer.status_code == 200, f"{answer.status_code}: {answer.text[:300]}\n{console.tail()}"
    assert "MinIO" in answer.text


def test_presign_put_complete_get_round_trip_from_the_host(stack: Stack) -> None:
    stack.ready()
    body = b"hello from a container round trip\n"
    intent = stack.presign(body)
    upload = intent["upload"]
    assert upload["method"] == "PUT"
    put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text
    done = stack.complete(intent)
    assert (done["object_key"], done["size_bytes"]) == (intent["object_key"], len(body))
    for url in (done["get_url"], intent["get_url"]):
        got = requests.get(url, timeout=30)
        assert got.status_code == 200 and got.content == body, got.text


@pytest.mark.parametrize("service", ["minio", "signer", "console"])
def test_each_service_runs_as_its_fixed_uid_and_gid(stack: Stack, service: str) -> None:
    spec = IMAGES[service]
    container = stack.project.container(service)
    assert container.running(), container.tail()
    processes = container.processes()
    assert processes
    for pid, (uids, gids) in processes.items():
        assert uids == (spec.uid,) * 4 and gids == (spec.gid,) * 4, f"pid {pid}: {uids} {gids}"


def test_minio_gets_only_its_own_settings(stack: Stack) -> None:
    env = stack.project.container("minio").env()
    assert env["MINIO_ROOT_USER"] == stack.env["MINIO_ROOT_USER"]
    leaked = [name for name in SIGNER_ONLY if env.get(name)]
    assert not leaked, f"MinIO's environment carries the signer's {leaked}"


def test_published_ports_bind_loopback_only(stack: Stack, engine: Engine) -> None:
    for service in ("minio", "signer", "console"):
        ports = engine.inspect("container", stack.project.container(service).name)
        bindings = [b for bs in ports["NetworkSettings"]["Ports"].values() if bs for b in bs]
        assert bindings and all(b["HostIp"] == "127.0.0.1" for b in bindings), (service, bindings)


def test_the_data_survives_down_and_up(stack: Stack) -> None:
    stack.ready()
    body = b"kept across down/up\n"
    intent = stack.presign(body)
    upload = intent["upload"]
    assert requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30).ok
    stack.complete(intent)
    stack.project.down()  # containers and network; the named volume stays, as `make down`
    stack.project.up(timeout=READY_TIMEOUT)
    stack.ready()
    got = requests.get(intent["get_url"], timeout=30)
    assert got.status_code == 200 and got.content == body
