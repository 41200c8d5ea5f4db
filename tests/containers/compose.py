"""A Compose file started as `docker compose up` starts it: one `podman run` per service.

Neither `docker compose` nor a Compose implementation that waits on ``depends_on: condition:
service_healthy`` is available here (podman-compose 1.x ignores the condition), so this reads
the project's real file and translates each service; the test then runs what users run.

Reproduced: variable interpolation (``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:?e}``, ``$$``),
``env_file``, ``environment``, ``command``, ``entrypoint``, ``user``, ``hostname``, published
``ports``, named ``volumes``, ``configs`` with inline ``content``, ``healthcheck`` and
``depends_on`` conditions (started, healthy — by running the check, as nothing runs it on its
own here — and completed successfully), one network per project on which each service is
reachable by its name, the labels Compose puts on a container (project, service, config
hash: the Docker Engine API finds a project's containers by them), and `up` recreating a
container whose configuration changed (a new value in the env file, say) while leaving an
unchanged running one alone. ``project_dir`` is Compose's ``--project-directory`` (relative
paths such as ``env_file: .env`` resolve against it). Not reproduced: ``build`` (the fixture
builds the images under the same tags first) and ``restart`` policies. Any other key raises
NotImplementedError, so an edit of the file that this cannot follow fails loudly instead of
being tested as something else.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.containers.engine import Container, Engine

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
HASH_LABEL = "com.docker.compose.config-hash"
HANDLED = {
    "build", "image", "env_file", "environment", "command", "entrypoint", "user", "hostname",
    "ports", "volumes", "configs", "healthcheck", "depends_on", "restart",
}  # fmt: skip
_VARIABLE = re.compile(r"\$(?:(\$)|\{(\w+)(?:(:?)([-?])([^}]*))?\}|(\w+))")


def interpolate(value: Any, variables: Mapping[str, str]) -> Any:
    """Compose's interpolation of every string in ``value`` (recursively)."""
    if isinstance(value, dict):
        return {k: interpolate(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, variables) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(m: re.Match[str]) -> str:
        if m.group(1):
            return "$"
        name = m.group(2) or m.group(6)
        current = variables.get(name)
        colon, op, arg = m.group(3), m.group(4), m.group(5)
        unset = current is None or (colon == ":" and current == "")
        if op == "-" and unset:
            return str(interpolate(arg, variables))
        if op == "?" and unset:
            raise ValueError(f"compose: {name} is required: {arg}")
        return current or ""

    return _VARIABLE.sub(substitute, value)


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments and blank lines skipped)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def _as_env(value: Any) -> list[str]:
    """`environment:` as a mapping or a list, to KEY=VALUE strings."""
    if isinstance(value, dict):
        return [f"{k}={'' if v is None else v}" for k, v in value.items()]
    return [str(item) for item in value]


@dataclass
class Project:
    engine: Engine = field(repr=False)
    file: Path
    variables: dict[str, str] = field(repr=False)
    workdir: Path
    project_dir: Path | None = None  # default: the compose file's directory, as Compose's
    name: str | None = None  # Compose's -p / COMPOSE_PROJECT_NAME; default: the file's name:
    doc: dict[str, Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.project_dir = self.project_dir or self.file.parent
        raw = yaml.safe_load(self.file.read_text())
        self.doc = interpolate(raw, self.variables)
        for name, service in self.doc["services"].items():
            unknown = set(service) - HANDLED
            if unknown:
                raise NotImplementedError(f"compose service {name}: {sorted(unknown)} not handled")

    @property
    def prefix(self) -> str:
        return self.engine.name(self.name or self.doc.get("name", self.file.stem))

    @property
    def network(self) -> str:
        return self.prefix

    def container(self, service: str) -> Container:
        return Container(self.engine, f"{self.prefix}-{service}")

    def volume(self, name: str) -> str:
        return f"{self.prefix}_{name}"

    def service(self, name: str) -> dict[str, Any]:
        return self.doc["services"][name]

    def dependencies(self, name: str) -> dict[str, str]:
        deps = self.service(name).get("depends_on") or {}
        if isinstance(deps, list):
            return {d: "service_started" for d in deps}
        return {d: (spec or {}).get("condition", "service_started") for d, spec in deps.items()}

    def order(self, services: list[str]) -> list[str]:
        """``services`` and everything they depend on, dependencies first."""
        out: list[str] = []

        def visit(name: str, path: tuple[str, ...]) -> None:
            if name in path:
                raise ValueError(f"compose: dependency cycle {' -> '.join((*path, name))}")
            for dep in self.dependencies(name):
                visit(dep, (*path, name))
            if name not in out:
                out.append(name)

        for name in services:
            visit(name, ())
        return out

    def run_args(self, name: str) -> list[str]:
        """The `podman run` arguments for one service."""
        s = self.service(name)
        args = [
            "run", "--detach", "--name", self.container(name).name, "--label", self.engine.label,
            "--label", f"{PROJECT_LABEL}={self.prefix}", "--label", f"{SERVICE_LABEL}={name}",
            "--network", self.network, "--network-alias", name,
        ]  # fmt: skip
        if "hostname" in s:
            args += ["--hostname", s["hostname"]]
        if "user" in s:
            args += ["--user", str(s["user"])]
        env_files = s.get("env_file") or []
        for path in [env_files] if isinstance(env_files, str) else env_files:
            args += ["--env-file", str((self._dir / path).resolve())]
        for pair in _as_env(s.get("environment") or {}):
            args += ["--env", pair]
        for port in s.get("ports") or []:
            args += ["--publish", str(port)]
        for volume in s.get("volumes") or []:
            if not isinstance(volume, str):
                raise NotImplementedError(f"compose service {name}: long volume syntax")
            source, target = str(volume).split(":", 1)
            if source.startswith((".", "/")):
                source = str((self._dir / source).resolve())
            else:
                source = self.volume(source)
            args += ["--volume", f"{source}:{target}"]
        for config in s.get("configs") or []:
            content = self.doc["configs"][config["source"]]["content"]
            path = self.workdir / f"config-{config['source']}"
            path.write_text(content)
            args += ["--volume", f"{path}:{config['target']}:ro"]
        args += self._health_args(s.get("healthcheck"))
        entrypoint = s.get("entrypoint")
        if entrypoint is not None:
            # podman's --entrypoint takes a JSON array for an exec-form list.
            args += ["--entrypoint", _json_list(entrypoint)]
        args.append(s["image"])
        command = s.get("command")
        if command is not None:
            args += shlex.split(command) if isinstance(command, str) else [str(c) for c in command]
        return args

    @property
    def _dir(self) -> Path:
        assert self.project_dir is not None  # set in __post_init__
        return self.project_dir

    def config_hash(self, args: list[str]) -> str:
        """What Compose compares to decide on a recreate: the service's whole configuration,
        the contents of its env files included."""
        digest = hashlib.sha256(json.dumps(args).encode())
        for i, arg in enumerate(args[:-1]):
            if arg == "--env-file":
                digest.update(Path(args[i + 1]).read_bytes())
        return digest.hexdigest()

    @staticmethod
    def _health_args(check: dict[str, Any] | None) -> list[str]:
        if not check:
            return ["--health-interval", "disable"]
        if check.get("disable") or check.get("test") in (["NONE"], "NONE"):
            return ["--no-healthcheck"]
        test = check["test"]
        # podman 4.3 takes --health-cmd as a shell string only (a JSON array ends up as one
        # argument), so CMD [...] becomes the same words quoted for /bin/sh.
        if isinstance(test, str):
            shell = test
        elif test[0] == "CMD-SHELL":
            shell = test[1]
        elif test[0] == "CMD":
            shell = shlex.join(test[1:])
        else:
            raise NotImplementedError(f"healthcheck test {test!r}")
        args = ["--health-cmd", shell]
        if "timeout" in check:
            args += ["--health-timeout", str(check["timeout"])]
        if "retries" in check:
            args += ["--health-retries", str(check["retries"])]
        if "start_period" in check:
            args += ["--health-start-period", str(check["start_period"])]
        # No systemd to run the check on a timer: it runs when the test asks.
        return [*args, "--health-interval", "disable"]

    def _ensure_network_and_volumes(self, names: list[str]) -> None:
        exists = self.engine.podman("network", "exists", self.network, check=False)
        if exists.returncode != 0:
            self.engine.podman("network", "create", "--label", self.engine.label, self.network)
        for name in names:
            for volume in self.service(name).get("volumes") or []:
                source = str(volume).split(":", 1)[0]
                if source.startswith((".", "/")):
                    continue
                vol = self.volume(source)
                if self.engine.podman("volume", "exists", vol, check=False).returncode != 0:
                    self.engine.podman("volume", "create", "--label", self.engine.label, vol)

    def up(self, *services: str, timeout: float = 180) -> None:
        """Start ``services`` (default: all) after what they depend on, each dependency waited
        for as its ``condition`` says, as `docker compose up --detach` does."""
        names = self.order(list(services or self.doc["services"]))
        self._ensure_network_and_volumes(names)
        for name in names:
            for dep, condition in self.dependencies(name).items():
                self.wait(dep, condition, timeout)
            container = self.container(name)
            args = self.run_args(name)
            wanted = self.config_hash(args)
            if container.running() and self.current_hash(name) == wanted:
                continue
            self.engine.podman(
                "rm", "--force", "--volumes", "--time", "10", container.name, check=False
            )
            image = args.index(self.service(name)["image"])
            self.engine.podman(*args[:image], "--label", f"{HASH_LABEL}={wanted}", *args[image:])

    def current_hash(self, name: str) -> str | None:
        found = self.engine.podman(
            "inspect", "--format", f'{{{{index .Config.Labels "{HASH_LABEL}"}}}}',
            self.container(name).name, check=False,
        )  # fmt: skip
        return found.stdout.strip() or None if found.returncode == 0 else None

    def stop(self, *services: str) -> None:
        """`docker compose stop SERVICE`: the container stays, stopped."""
        for name in services:
            self.engine.podman("stop", "--time", "10", self.container(name).name)

    def wait(self, name: str, condition: str, timeout: float) -> None:
        container = self.container(name)
        if condition == "service_started":
            return
        if condition == "service_healthy":
            container.wait_healthy(timeout)
        elif condition == "service_completed_successfully":
            code = self.engine.podman("wait", container.name, timeout=timeout).stdout.strip()
            if code != "0":
                raise AssertionError(f"{container.name} exited {code}:\n{container.tail()}")
        else:
            raise NotImplementedError(f"depends_on condition {condition!r}")

    def down(self, *, volumes: bool = False) -> None:
        """Remove the containers and the network; the named volumes too if asked."""
        for name in reversed(self.order(list(self.doc["services"]))):
            name = self.container(name).name
            self.engine.podman("rm", "--force", "--volumes", "--time", "5", name, check=False)
        self.engine.podman("network", "rm", "--force", self.network, check=False)
        if volumes:
            for name in self.doc.get("volumes") or {}:
                self.engine.podman("volume", "rm", "--force", self.volume(name), check=False)

    def wait_all_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for name, s in self.doc["services"].items():
            if s.get("healthcheck"):
                self.container(name).wait_healthy(max(1.0, deadline - time.monotonic()))


def _json_list(items: list[str] | str) -> str:
    return json.dumps(items if isinstance(items, list) else shlex.split(items))
