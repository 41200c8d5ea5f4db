"""Podman as the tests drive it: set up by containers/engine.sh, base images by standins.sh.

Every call is ``podman`` with the environment engine.sh prints (CONTAINERS_CONF, ...) and a
timeout; everything a session creates carries the label ``org.minio-stack.test=<session id>``
so teardown removes exactly that and nothing of anyone else's.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
ENGINE_SH = ROOT / "containers" / "engine.sh"
STANDINS_SH = ROOT / "containers" / "standins.sh"
LABEL = "org.minio-stack.test"
STANDIN_LABEL = "org.minio-stack.standin"
# Installing podman with apt, or a first debootstrap, takes minutes on a fresh machine.
SETUP_TIMEOUT = 1800
# A cold MinIO build compiles ~1,000 Go packages: measured 387 s on 2 shared cores.
BUILD_TIMEOUT = 1800
# Per test, fixtures included: the first test to need an image waits for its build.
TEST_TIMEOUT = SETUP_TIMEOUT + BUILD_TIMEOUT


class EngineUnavailable(Exception):
    """The engine or its base images could not be set up; the message is the exact error."""


class PodmanError(AssertionError):
    def __init__(self, args: Sequence[str], result: subprocess.CompletedProcess[str]) -> None:
        super().__init__(
            f"podman {shlex.join(args)} exited {result.returncode}:\n"
            f"{(result.stderr or '').strip()}\n{(result.stdout or '').strip()}".strip()
        )
        self.result = result


@dataclass(frozen=True)
class ImageSpec:
    """One of the project's images: built from ``<name>/Dockerfile`` under the tag
    docker-compose.yaml runs, with a fixed non-root user and a group of the same name."""

    name: str
    uid: int
    gid: int
    user: str

    @property
    def dockerfile(self) -> str:
        return f"{self.name}/Dockerfile"

    @property
    def tag(self) -> str:
        return f"minio-stack/{self.name}:local"

    @property
    def ref(self) -> str:
        # podman stores an unqualified name under localhost/.
        return f"localhost/{self.tag}"


IMAGES: dict[str, ImageSpec] = {
    spec.name: spec
    for spec in (
        ImageSpec("signer", 10002, 10002, "signer"),
        ImageSpec("console", 101, 101, "nginx"),  # the nginx image's own user
        ImageSpec("minio", 10001, 10001, "minio"),
    )
}


def _run_script(path: Path) -> tuple[str, str]:
    try:
        result = subprocess.run(
            [str(path)], capture_output=True, text=True, timeout=SETUP_TIMEOUT, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        raise EngineUnavailable(
            f"{path.relative_to(ROOT)} did not finish in {SETUP_TIMEOUT}s"
        ) from None
    except OSError as exc:
        raise EngineUnavailable(f"cannot run {path.relative_to(ROOT)}: {exc.strerror}") from None
    if result.returncode != 0:
        raise EngineUnavailable(
            f"{path.relative_to(ROOT)} exited {result.returncode}: {result.stderr.strip()}"
        )
    return result.stdout, result.stderr


def _exports(text: str) -> dict[str, str]:
    """``export NAME=value`` lines (values quoted as bash's printf %q does) as a mapping."""
    out = {}
    for line in text.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            name, value = words[1].split("=", 1)
            out[name] = value
    return out


@dataclass
class Engine:
    env: dict[str, str] = field(repr=False)
    session: str = field(default_factory=lambda: secrets.token_hex(3))
    setup_log: str = field(default="", repr=False)

    @classmethod
    def setup(cls) -> Engine:
        """Run containers/engine.sh and containers/standins.sh; raise EngineUnavailable."""
        if shutil.which("apt-get") is None and shutil.which("podman") is None:
            raise EngineUnavailable("no podman and no apt-get to install it with")
        stdout, engine_log = _run_script(ENGINE_SH)
        exports = _exports(stdout)
        if "CONTAINERS_CONF" not in exports:
            raise EngineUnavailable(f"{ENGINE_SH.name} printed no CONTAINERS_CONF: {stdout!r}")
        engine = cls({**os.environ, **exports})
        _, standins_log = _run_script(STANDINS_SH)
        engine.setup_log = (engine_log + standins_log).strip()
        return engine

    def name(self, *parts: str) -> str:
        return "-".join(("msct", self.session, *parts))

    @property
    def label(self) -> str:
        return f"{LABEL}={self.session}"

    def podman(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        try:
            result = subprocess.run(
                ["podman", *args], env=self.env, capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"podman {shlex.join(args)} did not finish in {timeout}s") from exc
        if check and result.returncode != 0:
            raise PodmanError(args, result)
        return result

    def inspect(self, kind: str, name: str) -> dict[str, Any]:
        return json.loads(self.podman(kind, "inspect", name).stdout)[0]

    def build(self, spec: ImageSpec, log_path: Path) -> float:
        """``podman build`` as CI and the README run it; returns the seconds it took."""
        args = ["build", "--format", "docker", "--pull=never", "-f", spec.dockerfile]
        args += ["-t", spec.tag, *(go_cache_volumes() if spec.name == "minio" else [])]
        before = self.image_id(spec.ref)
        start = time.monotonic()
        result = self.podman(*args, str(ROOT), timeout=BUILD_TIMEOUT, check=False)
        seconds = time.monotonic() - start
        log_path.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            tail = "\n".join((result.stdout + result.stderr).splitlines()[-40:])
            raise AssertionError(
                f"building {spec.tag} failed (exit {result.returncode}; log {log_path}):\n{tail}"
            )
        if before and before != self.image_id(spec.ref):
            # The image this build replaced (its layers stay as the build cache); kept if in use.
            self.podman("rmi", before, check=False)
        return seconds

    def image_id(self, ref: str) -> str | None:
        found = self.podman("image", "inspect", "--format", "{{.Id}}", ref, check=False)
        return found.stdout.strip() or None if found.returncode == 0 else None

    def base_images(self) -> dict[str, str]:
        """The base images standins.sh made ready: name → "stand-in (kind)" or "real image",
        with the seconds it took when this session built the stand-in."""
        out, built = {}, {}
        for line in self.setup_log.splitlines():
            m = re.match(r"standins: (\S+): (.+)$", line)
            if not m:
                continue
            name, what = m.groups()
            if seconds := re.fullmatch(r"stand-in built in (\d+s)", what):
                built[name] = seconds[1]
            elif not what.startswith(("building", "pulled")):
                out[name] = what + (f", built in {built[name]}" if name in built else "")
        return out

    def remove_everything_of_this_session(self) -> None:
        """Containers, then networks and volumes, labelled with this session's id."""
        flt = ["--filter", f"label={self.label}"]
        ids = self.podman("ps", "--all", "--quiet", *flt, check=False).stdout.split()
        if ids:
            self.podman("rm", "--force", "--volumes", "--time", "3", *ids, check=False, timeout=120)
        for kind in ("network", "volume"):
            names = self.podman(kind, "ls", "--quiet", *flt, check=False).stdout.split()
            if names:
                self.podman(kind, "rm", "--force", *names, check=False)


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now (published ports bind loopback only)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def go_cache_volumes() -> list[str]:
    """The host's Go module and build caches mounted into the build stage's RUN steps, so a
    warm CI machine (which has just built MinIO natively) does not download everything again.
    GOMODCACHE is /go/pkg/mod and GOCACHE /root/.cache/go-build in the golang image."""
    go = shutil.which("go")
    if go is None or os.environ.get("MINIO_STACK_BUILD_GO_CACHE", "1") == "0":
        return []
    out = subprocess.run(
        [go, "env", "GOMODCACHE", "GOCACHE"], capture_output=True, text=True, timeout=30
    )
    paths = out.stdout.split()
    if out.returncode != 0 or len(paths) != 2:
        return []
    volumes = []
    for host, inside in zip(paths, ("/go/pkg/mod", "/root/.cache/go-build"), strict=True):
        Path(host).mkdir(parents=True, exist_ok=True)
        volumes += ["--volume", f"{host}:{inside}"]
    return volumes


_PROCESS_IDS = r"""
for s in /proc/[0-9]*/status; do
  pid=${s#/proc/}; pid=${pid%/status}
  [ "$pid" = "$$" ] && continue
  uid=; gid=
  { while read -r key a b c d; do
      case $key in Uid:) uid="$a $b $c $d" ;; Gid:) gid="$a $b $c $d" ;; esac
    done < "$s"; } 2>/dev/null || continue
  [ -n "$uid" ] && echo "$pid|$uid|$gid"
done
"""


@dataclass
class Container:
    engine: Engine = field(repr=False)
    name: str

    def logs(self) -> str:
        result = self.engine.podman("logs", self.name, check=False)
        return result.stdout + result.stderr

    def running(self) -> bool:
        state = self.engine.podman(
            "inspect", "--format", "{{.State.Running}}", self.name, check=False
        )
        return state.stdout.strip() == "true"

    def exec(self, *command: str, user: str | None = None, timeout: float = 60) -> str:
        args = ["exec", *(["--user", user] if user else []), self.name, *command]
        return self.engine.podman(*args, timeout=timeout).stdout

    def env(self) -> dict[str, str]:
        """The container's configured environment (what the engine gives its process 1)."""
        pairs = self.engine.inspect("container", self.name)["Config"]["Env"] or []
        return dict(pair.split("=", 1) for pair in pairs)

    def processes(self) -> dict[int, tuple[tuple[int, ...], tuple[int, ...]]]:
        """pid → ((real, effective, saved, fs) uids, the same gids) of every process inside but
        the shell reading them. Builtins only, so that shell forks nothing that could be seen."""
        text = self.exec("sh", "-c", _PROCESS_IDS)
        out = {}
        for line in text.splitlines():
            pid, uids, gids = line.split("|")
            out[int(pid)] = (tuple(map(int, uids.split())), tuple(map(int, gids.split())))
        return out

    def healthcheck(self) -> subprocess.CompletedProcess[str]:
        """The image's (or run's) HEALTHCHECK, run now: nothing runs it on its own here."""
        return self.engine.podman("healthcheck", "run", self.name, check=False, timeout=60)

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            result = self.healthcheck()
            if result.returncode == 0:
                return
            if not self.running():
                raise AssertionError(f"{self.name} exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{self.name} not healthy after {timeout:.0f}s "
                    f"(podman healthcheck run: {(result.stdout + result.stderr).strip()}):\n"
                    f"{self.tail()}"
                )
            time.sleep(2)

    def wait_for_log(
        self, *patterns: str, timeout: float, stop_if: Callable[[str], bool] | None = None
    ) -> str:
        """The log once it matches the first of ``patterns`` (regexes) that appears."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.logs()
            if any(re.search(p, text, re.MULTILINE) for p in patterns):
                return text
            if (stop_if and stop_if(text)) or not self.running():
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: no {patterns} in {timeout:.0f}s\n{self.tail()}")
            time.sleep(1)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.logs().splitlines()[-lines:])
