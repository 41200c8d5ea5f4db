"""The MinIO image run as a user runs it: its entrypoint validates, makes the data directories
the minio user's (as root, whoever owns the mount), drops to that fixed uid:gid, starts MinIO,
bootstraps it (six steps in its log) and stays MinIO's parent; its HEALTHCHECK follows the
address MinIO listens on and passes when run (nothing runs it on its own here: `podman
healthcheck run`); and MinIO's environment holds only what bootstrap and MinIO read.

Issue 13's defects 3 (a HEALTHCHECK fixed to port 9000), 6 (a root-owned disk at /data) and
7 (the whole .env in MinIO's environment) each have a test here that failed before the fix."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.containers.compose import Project, read_env_file
from tests.containers.conftest import Images
from tests.containers.engine import ROOT, TEST_TIMEOUT, Container, Engine, free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT)]

# The six steps every bootstrap runs (bootstrap/converge.py); it may run more.
BOOTSTRAP_STEPS = ("ready", "bucket", "privacy", "cors", "uploads", "identity")
DONE = r"event=bootstrap status=(ok|failed)"
BOOT_TIMEOUT = 180
USER = (10001, 10001)
# Where the image's entrypoint records the endpoint its HEALTHCHECK probes (minio/Dockerfile).
ENDPOINT_FILE = "/run/minio-stack/endpoint"
# What only the signer may hold.
SIGNER_ONLY = ("SIGNER_API_TOKENS", "SIGNER_TOKEN_SECRETS")


@pytest.fixture
def start_minio(
    engine: Engine, images: Images, env_file: Path
) -> Iterator[Callable[..., Container]]:
    """Start the MinIO image with the stack's settings; every container removed afterwards."""
    spec = images("minio")
    started: list[Container] = []

    def start(*extra: str, command: tuple[str, ...] = ()) -> Container:
        container = Container(engine, engine.name("minio", str(len(started))))
        started.append(container)
        engine.podman(
            "run", "--detach", "--name", container.name, "--label", engine.label,
            "--health-interval", "disable", "--env-file", str(env_file), *extra,
            spec.ref, *command,
        )  # fmt: skip
        return container

    yield start
    for container in started:
        engine.podman("rm", "--force", "--volumes", "--time", "5", container.name, check=False)


@pytest.fixture
def minio(start_minio: Callable[..., Container]) -> Container:
    container = start_minio()
    container.wait_for_log(DONE, timeout=BOOT_TIMEOUT)
    return container


def minio_pid(container: Container) -> int:
    """MinIO's pid inside the container, as the entrypoint last logged it (the log keeps the
    lines of every start of the container)."""
    found = re.findall(r"event=minio-started pid=(\d+)", container.logs())
    assert found, container.tail()
    return int(found[-1])


def environ_of(container: Container, pid: int) -> dict[str, str]:
    """What process ``pid`` really runs with: /proc/PID/environ, not the configured env.

    Privileged: the entrypoint changed its uid, so the kernel made it non-dumpable, and only
    CAP_SYS_PTRACE reads its /proc files (root without it cannot read the minio user's either).
    """
    args = ("exec", "--privileged", container.name, "cat", f"/proc/{pid}/environ")
    text = container.engine.podman(*args).stdout
    return dict(item.split("=", 1) for item in text.split("\0") if "=" in item)


def supplementary_groups(container: Container, pid: int) -> list[str]:
    status = container.exec("cat", f"/proc/{pid}/status")
    return re.search(r"^Groups:(.*)$", status, re.MULTILINE)[1].split()  # type: ignore[index]


def assert_runs_as_the_minio_user(container: Container, groups: tuple[str, ...] = ()) -> None:
    """The entrypoint (PID 1) and MinIO, every uid and gid (real, effective, saved, fs) the
    minio user's, and ``groups`` as supplementary groups: none after the entrypoint's drop,
    nothing of root's."""
    processes = container.processes()
    assert 1 in processes and minio_pid(container) in processes, processes
    for pid, (uids, gids) in processes.items():
        assert (uids, gids) == ((USER[0],) * 4, (USER[1],) * 4), f"pid {pid}: {uids} {gids}"
        assert supplementary_groups(container, pid) == list(groups), f"pid {pid}'s groups"


def root_owned_volume(engine: Engine, images: Images, name: str) -> str:
    """A named volume owned by root, as a new disk is. Used once at a path the image does not
    have, so podman neither copies /data's ownership into it nor chowns it to the USER."""
    volume = engine.name(name)
    engine.podman("volume", "create", "--label", engine.label, volume)
    engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable",
        "--user", "0:0", "--volume", f"{volume}:/v", "--entrypoint", '["chown", "0:0", "/v"]',
        images("minio").ref,
    )  # fmt: skip
    return volume


def test_the_entrypoint_bootstraps_minio_in_six_steps(minio: Container) -> None:
    log = minio.logs()
    done = re.search(r"event=bootstrap status=ok steps=(\d+)", log)
    assert done, minio.tail()
    steps = dict(re.findall(r"event=step step=(\S+) .*?status=(\S+)", log))
    # One line per step, each step once, the six among them, none failed.
    assert len(steps) == int(done[1]) == log.count("event=step "), log
    assert set(BOOTSTRAP_STEPS) <= set(steps), steps
    assert "failed" not in steps.values(), steps


def test_the_healthcheck_passes_when_run(minio: Container) -> None:
    minio.wait_healthy(timeout=60)


def test_minio_and_its_entrypoint_run_as_the_fixed_uid_and_gid(minio: Container) -> None:
    assert_runs_as_the_minio_user(minio)
    assert "event=privileges uid=10001 gid=10001 groups=none" in minio.logs()
    # The image's own /data is the user's already: nothing to prepare.
    assert "event=prepare" not in minio.logs()
    # What MinIO wrote on the volume is the user's, with the same group as /data itself.
    owners = minio.exec("stat", "-c", "%u:%g", "/data", "/data/.minio.sys").split()
    assert owners == ["10001:10001", "10001:10001"]
    # As the engine would have set it for USER 10001: the minio user's home.
    assert environ_of(minio, minio_pid(minio))["HOME"] == "/data"


def test_the_engine_api_reports_its_health_and_logs(minio: Container, engine_api: Any) -> None:
    # The Docker Engine API (podman system service) seen through the `docker` SDK.
    minio.wait_healthy(timeout=60)  # records the result the API then reports
    container = engine_api.containers.get(minio.name)
    assert container.status == "running"
    # Root only for the entrypoint, which names the user it becomes.
    assert container.attrs["Config"]["User"] == "0:0"
    entrypoint = container.attrs["Config"]["Entrypoint"]
    assert entrypoint[entrypoint.index("--run-as") + 1] == "10001:10001"
    assert container.attrs["State"]["Health"]["Status"] == "healthy"
    assert b"event=bootstrap status=ok" in container.logs()


def test_the_healthcheck_follows_the_api_address(start_minio: Callable[..., Container]) -> None:
    minio = start_minio(
        command=("minio", "server", "/data", "--address", ":9100", "--console-address", ":9001")
    )
    assert "event=bootstrap status=ok" in minio.wait_for_log(DONE, timeout=BOOT_TIMEOUT)
    assert minio.exec("cat", ENDPOINT_FILE) == "http://127.0.0.1:9100\n"
    minio.wait_healthy(timeout=30)


@pytest.mark.parametrize("disk", ["bind mount", "named volume"])
def test_a_root_owned_data_disk_works(
    disk: str,
    start_minio: Callable[..., Container],
    engine: Engine,
    images: Images,
    tmp_path: Path,
) -> None:
    if disk == "bind mount":
        source = tmp_path / "disk"
        source.mkdir(mode=0o755)  # owned by root, as a new disk is
        (source / "lost+found").mkdir(mode=0o700)  # as mkfs.ext4 leaves one
        mount = f"{source}:/data"
    else:
        mount = f"{root_owned_volume(engine, images, 'disk')}:/data"
    minio = start_minio("--volume", mount)
    log = minio.wait_for_log(DONE, r"event=minio-exited", timeout=BOOT_TIMEOUT)
    assert "event=bootstrap status=ok" in log, minio.tail()
    assert re.search(r'event=prepare dir=/data action="chown 10001:10001" was=0:0 ', log), log
    assert_runs_as_the_minio_user(minio)
    owners = minio.exec("stat", "-c", "%u:%g", "/data", "/data/.minio.sys").split()
    assert owners == ["10001:10001", "10001:10001"]

    # Restarted on the same disk: it is the user's now, so nothing is walked or chowned again.
    engine.podman("restart", "--time", "10", minio.name, timeout=60)
    # The log keeps the first run's lines: wait for the second bootstrap's.
    minio.wait_for_log(rf"(?s){DONE}.*{DONE}", timeout=BOOT_TIMEOUT)
    log = minio.logs()
    assert log.count("event=bootstrap status=ok") == 2, minio.tail()
    assert log.count("event=prepare") == 1
    assert_runs_as_the_minio_user(minio)


def test_started_as_the_user_a_root_owned_disk_is_named_with_the_fix(
    start_minio: Callable[..., Container], engine: Engine, tmp_path: Path
) -> None:
    disk = tmp_path / "disk"
    disk.mkdir(mode=0o755)
    minio = start_minio("--user", "10001:10001", "--volume", f"{disk}:/data")
    code = engine.podman("wait", minio.name, timeout=BOOT_TIMEOUT).stdout.strip()
    log = minio.logs()
    assert code == "2", log
    assert "event=prepare status=skipped" in log, log
    errors = [line for line in log.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: invalid configuration: /data: not writable by uid 10001 (it belongs to 0:0); "
        "start the container as root, the image's default, so the entrypoint prepares it, or "
        "give it to this user: chown -R 10001:10001 /data"
    ], log
    assert "event=minio-started" not in log


def test_started_as_the_user_on_its_own_volume_it_just_runs(
    start_minio: Callable[..., Container],
) -> None:
    minio = start_minio("--user", "10001:10001")
    assert "event=bootstrap status=ok" in minio.wait_for_log(DONE, timeout=BOOT_TIMEOUT)
    assert "event=prepare status=skipped" in minio.logs()
    # The engine, not the entrypoint, set this user up: with its own group listed again.
    assert_runs_as_the_minio_user(minio, groups=("10001",))


@pytest.fixture
def compose_minio(engine: Engine, images: Images, env_file: Path, tmp_path: Path) -> Iterator[Any]:
    """docker-compose.yaml's minio service alone, started as `docker compose up minio` would,
    under a project name of its own (test_compose.py runs the whole file)."""
    images("minio")
    variables = {**read_env_file(env_file), "STACK_API_PORT": str(free_port())}
    project = Project(engine, ROOT / "docker-compose.yaml", variables, tmp_path)
    project.doc["name"] = "minio-env"
    try:
        project.up("minio", timeout=BOOT_TIMEOUT)
        yield project, variables
    finally:
        project.down(volumes=True)


def test_compose_gives_minio_only_what_bootstrap_and_minio_read(compose_minio: Any) -> None:
    project, variables = compose_minio
    minio = project.container("minio")
    assert "event=bootstrap status=ok" in minio.wait_for_log(DONE, timeout=BOOT_TIMEOUT)
    assert all(variables[name] for name in SIGNER_ONLY), "the .env has no signer secrets to leak"
    entrypoint, server = environ_of(minio, 1), environ_of(minio, minio_pid(minio))
    assert (
        entrypoint["MINIO_ROOT_USER"] == server["MINIO_ROOT_USER"] == variables["MINIO_ROOT_USER"]
    )
    # Neither the entrypoint nor MinIO holds the signer's API tokens or token secrets (nor
    # their values under another name); MinIO holds none of the signer's settings at all.
    for environ in (entrypoint, server):
        assert not [name for name in SIGNER_ONLY if environ.get(name)], sorted(environ)
        leaked = {variables[name] for name in SIGNER_ONLY} & set(environ.values())
        assert not leaked, "a signer secret under another name"
    assert not [name for name in server if name.startswith("SIGNER_")], sorted(server)
