"""Each image builds under a real engine, keeps its HEALTHCHECK, and its fixed non-root user has
a group of the same fixed id (``useradd --user-group`` alone gave the minio user gid 999, so
``/data`` was ``10001:999`` while MinIO ran as ``10001:10001``)."""

from __future__ import annotations

import json
import re

import pytest

from tests.containers.conftest import Images
from tests.containers.engine import IMAGES, ROOT, TEST_TIMEOUT, Engine

pytestmark = [pytest.mark.slow, pytest.mark.timeout(TEST_TIMEOUT)]


@pytest.mark.parametrize("name", list(IMAGES))
def test_image_builds_with_its_healthcheck_and_non_root_user(
    name: str, images: Images, engine: Engine
) -> None:
    spec = images(name)
    image = engine.inspect("image", spec.ref)
    # The OCI format would have dropped SHELL and HEALTHCHECK silently.
    assert image["ManifestType"] == "application/vnd.docker.distribution.manifest.v2+json"
    assert (image.get("Healthcheck") or {}).get("Test"), f"{spec.tag} lost its HEALTHCHECK"
    if name == "minio":
        # Root only for the entrypoint, which prepares /data, then becomes --run-as for good
        # (test_minio.py checks the running processes).
        assert image["Config"]["User"] == "0:0"
        entrypoint = image["Config"]["Entrypoint"]
        assert entrypoint[entrypoint.index("--run-as") + 1] == f"{spec.uid}:{spec.gid}"
    else:
        assert image["Config"]["User"] == f"{spec.uid}:{spec.gid}"


@pytest.mark.parametrize("name", list(IMAGES))
def test_the_image_user_and_group_have_the_same_fixed_ids(
    name: str, images: Images, engine: Engine
) -> None:
    spec = images(name)
    # Without the image's entrypoint: only the user database and the identity of USER (for
    # MinIO's, whose USER is root until its entrypoint drops, the identity it drops to).
    user = ["--user", f"{spec.uid}:{spec.gid}"] if name == "minio" else []
    out = engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable", *user,
        "--entrypoint", '["sh", "-c"]', spec.ref,
        'id -u; id -g; id -un; id -gn; getent passwd "$(id -un)"; getent group "$(id -g)"',
    ).stdout.split("\n")  # fmt: skip
    uid, gid, user, group, passwd, group_entry = out[:6]
    assert (uid, gid) == (str(spec.uid), str(spec.gid))
    assert (user, group) == (spec.user, spec.user)
    # The user's primary group in /etc/passwd is the same gid USER runs with.
    assert passwd.split(":")[2:4] == [str(spec.uid), str(spec.gid)], passwd
    assert group_entry.split(":")[:3] == [spec.user, "x", str(spec.gid)], group_entry


def test_the_minio_data_directory_belongs_to_the_minio_user(images: Images, engine: Engine) -> None:
    spec = images("minio")
    owner = engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable",
        "--entrypoint", '["stat", "-c", "%u:%g", "/data"]', spec.ref,
    ).stdout.strip()  # fmt: skip
    assert owner == f"{spec.uid}:{spec.gid}"


def test_minio_reports_the_pinned_commit_and_a_supported_go(images: Images, engine: Engine) -> None:
    spec = images("minio")
    pin = dict(
        line.split("=", 1)
        for line in (ROOT / "minio/pin.env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    out = engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable",
        "--entrypoint", '["minio", "--version"]', spec.ref,
    ).stdout  # fmt: skip
    commit = pin["MINIO_VERSION"].rsplit("-", 1)[1]
    assert f"minio version DEVELOPMENT.{pin['MINIO_VERSION_DATE']}T" in out, out
    assert f"(commit-id={commit})" in out, out
    # The Go the Dockerfile names is the one in the binary (1.24 left support with 1.26).
    go = re.search(r"^FROM golang:(\d+)\.(\d+)-", (ROOT / spec.dockerfile).read_text(), re.M)
    assert go and (int(go[1]), int(go[2])) >= (1, 25), "an unsupported Go builds MinIO"
    assert f"Runtime: go{go[1]}.{go[2]}." in out, out


def test_the_minio_image_ships_minios_own_license_files(images: Images, engine: Engine) -> None:
    # MinIO is AGPLv3 (NOTICE): its LICENSE, NOTICE and CREDITS, from the source built, ship
    # beside the binary.
    spec = images("minio")
    out = engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable",
        "--entrypoint", '["head", "-n", "2", "/usr/share/licenses/minio/LICENSE",'
        ' "/usr/share/licenses/minio/NOTICE", "/usr/share/licenses/minio/CREDITS"]', spec.ref,
    ).stdout  # fmt: skip
    assert "GNU AFFERO GENERAL PUBLIC LICENSE" in out, out
    assert "MinIO" in out.split("NOTICE")[1], out


# Each image's Python, and the lock its packages come from (issue 13, defect 9).
LOCKED = {
    "minio": ("python", "requirements.lock", {"pip", "minio-stack"}),
    "signer": ("python", "requirements.lock", {"pip", "minio-stack"}),
    # Debian's venv brings its own setuptools; the renderer never imports it.
    "console": ("/opt/console/bin/python", "console/requirements.lock", {"pip", "setuptools"}),
}
_INSTALLED = (
    "import importlib.metadata as m, json, platform, sys; print(json.dumps({'python': "
    "platform.python_version(), 'machine': platform.machine(), 'packages': "
    "{d.metadata['Name']: d.version for d in m.distributions()}}))"
)


@pytest.mark.parametrize("name", list(IMAGES))
def test_the_image_holds_exactly_the_locked_packages(
    name: str, images: Images, engine: Engine
) -> None:
    from packaging.utils import canonicalize_name
    from packaging.version import Version

    from tests.deploy.test_lock import read_lock

    python, lock, own = LOCKED[name]
    spec = images(name)
    out = engine.podman(
        "run", "--rm", "--label", engine.label, "--health-interval", "disable",
        "--entrypoint", json.dumps([python, "-c", _INSTALLED]), spec.ref,
    ).stdout  # fmt: skip
    found = json.loads(out)
    version = found["python"].rsplit(".", 1)[0]
    target = {
        "python_version": version, "python_full_version": found["python"],
        "implementation_name": "cpython", "platform_python_implementation": "CPython",
        "sys_platform": "linux", "platform_system": "Linux", "os_name": "posix",
        "platform_machine": found["machine"],
    }  # fmt: skip
    installed = {canonicalize_name(k): Version(v) for k, v in found["packages"].items()}
    wanted = {
        pkg: pin.version
        for pkg, pin in read_lock(ROOT / lock).items()
        if pin.marker is None or pin.marker.evaluate(target)
    }
    assert {pkg: installed.get(pkg) for pkg in wanted} == wanted
    extra = set(installed) - set(wanted) - {canonicalize_name(p) for p in own}
    assert not extra, f"installed beside the lock: {sorted(extra)}"
