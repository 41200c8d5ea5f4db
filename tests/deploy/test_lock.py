"""requirements.lock (and the console's small lock) against pyproject.toml, with no network:
every dependency pinned to a version its bounds allow, every pin with hashes, and the images
installing from the locks in hash-checking mode (issue 13, defect 9: `pip install .` against
lower bounds only gave a different image on every build)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from harness.minio_server import ROOT

LOCK = ROOT / "requirements.lock"
CONSOLE_LOCK = ROOT / "console" / "requirements.lock"
CONSOLE_IN = ROOT / "console" / "requirements.in"
# `name==version` with optional `; markers`, then one `--hash=` line per file.
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)(?: ; (.+?))? \\$")
_HASH = re.compile(r"^\s+--hash=sha256:[0-9a-f]{64}(?: \\)?$")
# The Pythons the images run: the real python:3.12 images, Debian bookworm's 3.11 (the
# stand-ins and the console image), on Linux.
TARGETS = [
    {"python_version": v, "python_full_version": f"{v}.0", "implementation_name": "cpython",
     "platform_python_implementation": "CPython", "sys_platform": "linux",
     "platform_system": "Linux", "os_name": "posix", "platform_machine": machine}
    for v in ("3.11", "3.12")
    for machine in ("x86_64", "aarch64")
]  # fmt: skip


@dataclass(frozen=True)
class Pin:
    version: Version
    marker: Marker | None
    hashes: frozenset[str]


def read_lock(path: Path) -> dict[str, Pin]:
    pins: dict[str, Pin] = {}
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line or line.lstrip().startswith(("#", "--hash")):
            continue
        m = _PIN.match(line)
        assert m, f"{path.name}:{i + 1}: not `name==version \\`: {line!r}"
        hashes = []
        for follow in lines[i + 1 :]:
            if not _HASH.match(follow):
                break
            hashes.append(follow.split("=", 1)[1].split()[0])
        name = canonicalize_name(m[1])
        assert name not in pins, f"{path.name}: {name} pinned twice"
        pins[name] = Pin(Version(m[2]), Marker(m[3]) if m[3] else None, frozenset(hashes))
    return pins


def pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def locked_requirements() -> list[Requirement]:
    """What the lock must cover: the runtime dependencies, and the build backend the images
    build the project with (`pip install --no-build-isolation`)."""
    doc = pyproject()
    project, build = doc["project"], doc["build-system"]
    assert isinstance(project, dict) and isinstance(build, dict)
    return [Requirement(r) for r in (*project["dependencies"], *build["requires"])]


def applies(pin: Pin) -> bool:
    return pin.marker is None or any(pin.marker.evaluate(target) for target in TARGETS)


def test_every_pin_has_hashes_and_the_lock_says_how_to_refresh_it() -> None:
    pins = read_lock(LOCK)
    assert pins
    assert not [name for name, pin in pins.items() if not pin.hashes], "pins without hashes"
    header = LOCK.read_text().splitlines()[:2]
    assert header[1].strip("# ") == "make lock", header


@pytest.mark.parametrize("requirement", locked_requirements(), ids=str)
def test_each_dependency_is_locked_within_its_bounds(requirement: Requirement) -> None:
    pins = read_lock(LOCK)
    name = canonicalize_name(requirement.name)
    assert name in pins, f"{requirement} is not in requirements.lock: run make lock"
    pin = pins[name]
    assert requirement.specifier.contains(pin.version, prereleases=True), (
        f"requirements.lock pins {name}=={pin.version}, outside {requirement}: run make lock"
    )
    assert applies(pin), f"{name} is locked only for platforms the images are not"


@pytest.mark.parametrize("requirement", [r for r in locked_requirements() if r.extras], ids=str)
def test_the_extras_asked_for_are_locked_too(requirement: Requirement) -> None:
    # What an extra pulls in comes from the package's own metadata, as installed here.
    pins = read_lock(LOCK)
    wanted = []
    for line in metadata.requires(requirement.name) or []:
        dep = Requirement(line)
        marker = dep.marker
        # Needed only with an extra asked for, on some target the images run.
        if marker is None or marker.evaluate({**TARGETS[0], "extra": ""}):
            continue
        if any(marker.evaluate({**t, "extra": e}) for t in TARGETS for e in requirement.extras):
            wanted.append(canonicalize_name(dep.name))
    assert wanted, f"{requirement}: its metadata names nothing for {requirement.extras}"
    missing = [name for name in wanted if name not in pins]
    assert not missing, f"{requirement} needs {missing}: run make lock"


def test_the_console_lock_is_the_main_locks_pins_for_what_the_console_imports() -> None:
    main, console = read_lock(LOCK), read_lock(CONSOLE_LOCK)
    wanted = {
        canonicalize_name(line)
        for line in CONSOLE_IN.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    runtime = {canonicalize_name(r.name) for r in locked_requirements()}
    assert wanted <= runtime, "the console installs what pyproject.toml does not declare"
    assert wanted <= set(console)
    for name, pin in console.items():
        assert pin.hashes, name
        assert main.get(name) == pin, f"{name}: console/requirements.lock differs: make lock"


@pytest.mark.parametrize(
    ("dockerfile", "lock"),
    [
        ("minio/Dockerfile", "requirements.lock"),
        ("signer/Dockerfile", "requirements.lock"),
        ("console/Dockerfile", "/opt/console/requirements.lock"),
    ],
)
def test_each_image_installs_from_its_lock_in_hash_checking_mode(
    dockerfile: str, lock: str
) -> None:
    text = (ROOT / dockerfile).read_text()
    assert f"pip install --no-cache-dir --require-hashes -r {lock}" in text
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    installs = re.findall(r"pip install [^\n\\]*", code)
    assert len(installs) >= 1
    # Anything else pip installs resolves nothing: the project itself, without dependencies
    # or a freshly downloaded build backend.
    for line in installs:
        assert "--require-hashes" in line or (
            "--no-deps" in line and "--no-build-isolation" in line
        ), line


def test_make_lock_refreshes_both_locks_with_uv() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.PHONY: lock +## ", makefile, re.MULTILINE)
    assert "uv pip compile" in makefile and "--universal" in makefile
    assert "--generate-hashes" in makefile
    assert "-o requirements.lock" in makefile and "-o console/requirements.lock" in makefile
    test_extras = pyproject()["project"]["optional-dependencies"]["test"]  # type: ignore[index]
    assert any(canonicalize_name(Requirement(r).name) == "uv" for r in test_extras)
