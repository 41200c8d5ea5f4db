"""Container fixtures: a real engine (podman, set up by containers/engine.sh), the project's three
images built once per session, and a summary of their build times at the end of the run.

When the engine cannot be set up, every test here fails with the exact error under CI=true (a
missing capability must never pass silently in CI) and is skipped with that one line otherwise.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest

from stack import envfile
from tests.containers.engine import IMAGES, ROOT, Engine, EngineUnavailable, ImageSpec

_STATS = pytest.StashKey["BuildStats"]()


@dataclass
class BuildStats:
    setup_seconds: float | None = None
    base_images: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    stats = config.stash.get(_STATS, None)
    if stats is None:
        return
    write = terminalreporter.write_line
    terminalreporter.section("container images")
    if stats.setup_seconds is not None:
        write(f"engine + base images ready in {stats.setup_seconds:.1f}s")
    for name, kind in stats.base_images.items():
        write(f"  base {name}: {kind}")
    for name, seconds in stats.seconds.items():
        write(f"  built {IMAGES[name].tag} in {seconds:.1f}s")
    for name, error in stats.failed.items():
        write(f"  FAILED {IMAGES[name].tag}: {error.splitlines()[0]}")


@pytest.fixture(scope="session")
def engine(request: pytest.FixtureRequest) -> Iterator[Engine]:
    stats = request.config.stash.setdefault(_STATS, BuildStats())
    start = time.monotonic()
    try:
        eng = Engine.setup()
    except EngineUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"container engine: {exc}", pytrace=False)
        pytest.skip(f"container engine unavailable: {str(exc).splitlines()[-1]}")
    stats.setup_seconds = time.monotonic() - start
    stats.base_images = eng.base_images()
    yield eng
    eng.remove_everything_of_this_session()


class Images:
    """Builds each image the first time a test asks for it; a failed build fails every test
    that needs that image, with the build's own error, without building it again."""

    def __init__(self, engine: Engine, logs: Path, stats: BuildStats) -> None:
        self.engine = engine
        self.logs = logs
        self.stats = stats
        self._errors: dict[str, str] = {}

    def __call__(self, name: str) -> ImageSpec:
        spec = IMAGES[name]
        if name in self._errors:
            raise AssertionError(self._errors[name])
        if name not in self.stats.seconds:
            try:
                self.stats.seconds[name] = self.engine.build(spec, self.logs / f"{name}.log")
            except AssertionError as exc:
                self._errors[name] = self.stats.failed[name] = str(exc)
                raise
        return spec


@pytest.fixture(scope="session")
def images(
    engine: Engine, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Images:
    return Images(engine, tmp_path_factory.mktemp("builds"), request.config.stash[_STATS])


@pytest.fixture(scope="session")
def env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .env as `make up` creates it: .env.example with every empty secret generated."""
    path = tmp_path_factory.mktemp("stack") / ".env"
    envfile.init(path, ROOT / ".env.example")
    return path


@pytest.fixture(scope="session")
def engine_api_url(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Docker Engine API that `podman system service` serves on a unix socket: the
    DOCKER_HOST the project's code (and the `docker` SDK) is pointed at."""
    base = tmp_path_factory.mktemp("api")
    socket = base / "podman.sock"
    url = f"unix://{socket}"
    with (base / "service.log").open("w") as log:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            env=engine.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                # Asks the server for its API version at once: fails until it listens.
                docker.DockerClient(base_url=url, timeout=60).close()
                break
            except docker.errors.DockerException:
                if service.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"podman system service did not answer on {socket}: "
                        f"{(base / 'service.log').read_text()}"
                    ) from None
                time.sleep(0.5)
        yield url
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait(10)


@pytest.fixture(scope="session")
def engine_api(engine_api_url: str) -> Iterator[Any]:
    """That API through the `docker` SDK: what the project's Python code uses instead of
    shelling out."""
    client = docker.DockerClient(base_url=engine_api_url, timeout=60)
    try:
        yield client
    finally:
        client.close()
