"""A Render-like harness: render.yaml's services run as a Render Blueprint runs them, on podman.

Render cannot run here, so this reads the project's real render.yaml and starts each service's
image the way Render does, as far as Render documents it (render.com/docs/blueprint-spec,
/environment-variables, /private-network, /disks, /health-checks). Any key or variable source
this does not follow raises NotImplementedError, so an edit of render.yaml it cannot reproduce
fails loudly instead of being tested as something else.

Reproduced, as the harness assumes Render does it:
- Service types ``web`` and ``pserv`` with ``runtime: docker``: the image built from
  ``dockerfilePath`` (the session's images fixture builds it under the tag Compose uses) runs
  with its own ENTRYPOINT and CMD. ``plan`` is accepted and ignored.
- One private network (a podman network): each service is reachable by its name, which is
  its ``host`` (Render adds a random suffix, e.g. ``minio-server-a1b2``; the harness does not).
  Its resolv.conf has a search domain (``dns.podman``), as a platform's may.
- Web services get ``PORT`` (their own ``PORT`` variable, else Render's default 10000),
  ``RENDER_EXTERNAL_HOSTNAME`` and ``RENDER_EXTERNAL_URL``; every service gets ``RENDER=true``,
  ``IS_PULL_REQUEST=false`` and ``RENDER_SERVICE_NAME``. A private service's ``PORT`` must be
  in its envVars (Render detects the port a private service opens; the harness does not).
- ``envVars``: ``value``; ``generateValue`` (base64 of 32 random bytes, the shape Render
  documents, ``=`` included); ``sync: false`` (the test supplies the value, as the user types
  it in the Dashboard; a missing one is an error); ``fromService`` with ``property: host``,
  ``port`` or ``hostport`` (``<host>:<port>``) or ``envVarKey`` (the other service's value of
  a variable its envVars declare; the same generated value on both sides).
- An edge in front of every web service: its public URL (``http://<name>.onrender.test``)
  reaches a proxy (nginx) that forwards to the service's PORT with the Host header untouched
  and X-Forwarded-For/-Proto added, from the private network's address range (10.0.0.0/8, as
  Render's proxy). Containers resolve the public names to the edge; the test (on the host)
  reaches the edge through a port published on 127.0.0.1 and sends the public Host header.
- ``disk``: a podman volume mounted at ``mountPath``, owned by root as a new disk is (podman's
  own default would copy the image's directory owner onto an empty volume), kept across a
  ``redeploy`` (the container replaced, the disk kept).
- Health checks polled from the host on each instance's PORT (published on 127.0.0.1 only):
  ``healthCheckPath`` for a web service (2xx or 3xx is healthy), a TCP connect for a private
  service. All services start at once, as a Blueprint deploys them, without waiting on each
  other.

Not reproduced: TLS at the edge (public URLs are http://), onrender.com names, the random
suffix of host names, custom domains, Render's build (podman builds the Dockerfile), instance
types and resource limits, scaling and numInstances, zero-downtime deploys (a redeploy stops
the old container first, as a service with a disk does on Render), deploy and health-check
timing (Render's time limits, restarts of a crashed service), preDeployCommand,
dockerCommand, fromGroup, fromDatabase, envVarKey of a variable Render sets itself, sync:false
being asked only when the Blueprint is first applied, disk snapshots, regions, preview
environments, log streams, outbound network restrictions.
"""

from __future__ import annotations

import base64
import json
import secrets
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml

from tests.containers.engine import IMAGES, Container, Engine, ImageSpec, free_port

HANDLED = {
    "type", "name", "runtime", "dockerfilePath", "dockerContext", "plan", "disk",
    "healthCheckPath", "envVars",
}  # fmt: skip
DEFAULT_WEB_PORT = "10000"  # Render's PORT for a web service that sets none
PUBLIC_DOMAIN = "onrender.test"
EDGE_PORT = 80


def generate_value() -> str:
    """What Render's ``generateValue`` gives: a base64-encoded 256-bit value."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


@dataclass
class Service:
    """One service of the Blueprint and the environment it runs with."""

    name: str
    kind: str  # web | pserv
    spec: dict[str, Any] = field(repr=False)
    image: ImageSpec
    env: dict[str, str] = field(default_factory=dict, repr=False)
    host_port: int = 0  # the instance's PORT, published on 127.0.0.1 for the health checks

    @property
    def declared(self) -> dict[str, dict[str, Any]]:
        return {v["key"]: v for v in self.spec.get("envVars") or []}

    @property
    def port(self) -> str:
        return self.env["PORT"]

    @property
    def hostport(self) -> str:
        return f"{self.name}:{self.port}"

    @property
    def public_host(self) -> str | None:
        return f"{self.name}.{PUBLIC_DOMAIN}" if self.kind == "web" else None


class Blueprint:
    """render.yaml read and every service's environment resolved as Render resolves it."""

    def __init__(self, path: Path, values: Mapping[str, Mapping[str, str]]) -> None:
        self.path = path
        self.values = values  # service → sync:false key → what the user typed in
        doc = yaml.safe_load(path.read_text())
        unknown_root = set(doc) - {"services"}
        if unknown_root:
            raise NotImplementedError(f"render.yaml: {sorted(unknown_root)} not handled")
        self.services: dict[str, Service] = {}
        for spec in doc["services"]:
            self.services[spec["name"]] = self._service(spec)
        self._resolving: set[tuple[str, str]] = set()
        self._resolved: dict[tuple[str, str], str] = {}
        for service in self.services.values():
            service.env = self._environment(service)

    @staticmethod
    def _service(spec: dict[str, Any]) -> Service:
        name = spec["name"]
        unknown = set(spec) - HANDLED
        if unknown:
            raise NotImplementedError(f"render.yaml service {name}: {sorted(unknown)} not handled")
        if spec["type"] not in ("web", "pserv") or spec.get("runtime") != "docker":
            raise NotImplementedError(f"{name}: only docker web and pserv services are handled")
        if spec.get("dockerContext", ".") != ".":
            raise NotImplementedError(f"{name}: dockerContext other than the repository root")
        dockerfile = spec["dockerfilePath"].removeprefix("./")
        image = next((s for s in IMAGES.values() if s.dockerfile == dockerfile), None)
        if image is None:
            raise NotImplementedError(f"{name}: no image of the project is built from {dockerfile}")
        return Service(name, spec["type"], spec, image)

    def _environment(self, service: Service) -> dict[str, str]:
        env = {
            "RENDER": "true",
            "IS_PULL_REQUEST": "false",
            "RENDER_SERVICE_NAME": service.name,
            "RENDER_EXTERNAL_HOSTNAME": service.public_host or "",
            "RENDER_EXTERNAL_URL": self.external_url(service.name) or "",
        }
        if service.kind == "web":
            env["PORT"] = DEFAULT_WEB_PORT
        for key in service.declared:
            env[key] = self.value(service.name, key)
        if "PORT" not in env:
            raise NotImplementedError(
                f"{service.name}: Render detects the port a private service opens; the harness "
                "needs PORT in its envVars"
            )
        return env

    def external_url(self, name: str) -> str | None:
        host = self.services[name].public_host
        return f"http://{host}" if host else None

    def value(self, name: str, key: str) -> str:
        """The value Render gives ``key`` on service ``name`` (resolved once, then the same)."""
        ref = (name, key)
        if ref in self._resolved:
            return self._resolved[ref]
        if ref in self._resolving:
            raise ValueError(f"render.yaml: {name}.{key} refers to itself through fromService")
        self._resolving.add(ref)
        var = self.services[name].declared.get(key)
        if var is None:
            raise NotImplementedError(f"{name} declares no {key} (envVarKey of Render's own)")
        result = self.env_var(var, service=name)
        self._resolved[ref] = result
        return result

    def env_var(self, var: dict[str, Any], *, service: str) -> str:
        """One envVars entry; ``service`` names whose ``sync: false`` values to use."""
        key = var["key"]
        sources = set(var) - {"key"}
        if sources == {"value"}:
            return str(var["value"])
        if sources == {"generateValue"} and var["generateValue"] is True:
            return generate_value()
        if sources == {"sync"} and var["sync"] is False:
            try:
                return self.values[service][key]
            except KeyError:
                raise ValueError(f"render.yaml asks for {service}.{key} (sync: false)") from None
        if sources == {"fromService"}:
            return self._from_service(var["fromService"], f"{service}.{key}")
        raise NotImplementedError(f"{service}.{key}: {sorted(sources)} not handled")

    def _from_service(self, ref: dict[str, Any], where: str) -> str:
        target = self.services.get(ref["name"])
        if target is None or target.kind != ref["type"]:
            raise ValueError(f"{where}: no {ref['type']} service named {ref['name']}")
        if "envVarKey" in ref:
            return self.value(target.name, ref["envVarKey"])
        prop = ref.get("property")
        if prop == "host":
            return target.name
        if prop in ("port", "hostport"):
            port = self.value(target.name, "PORT") if "PORT" in target.declared else None
            port = port or (DEFAULT_WEB_PORT if target.kind == "web" else None)
            if port is None:
                raise NotImplementedError(f"{where}: {target.name} has no PORT")
            return port if prop == "port" else f"{target.name}:{port}"
        raise NotImplementedError(f"{where}: fromService property {prop!r}")


EDGE_CONF = """\
# The harness's stand-in for Render's edge: one name per web service, forwarded to its PORT
# on the private network with the Host header untouched (SigV4 signs it).
worker_processes 1;
pid /tmp/edge.pid;
error_log stderr warn;
events {{ worker_connections 512; }}
http {{
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    # Re-resolve the services' names: a redeployed service gets a new address.
    resolver {resolver} valid=2s ipv6=off;
    client_max_body_size 0;
    proxy_request_buffering off;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_connect_timeout 5s;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    server {{
        listen {port} default_server;
        return 404;
    }}
{servers}
}}
"""
EDGE_SERVER = """\
    server {{
        listen {port};
        server_name {public};
        location / {{
            set $upstream {hostport};
            proxy_pass http://$upstream;
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
        }}
    }}
"""


@dataclass
class Render:
    """The Blueprint's services running on a podman network of their own."""

    engine: Engine = field(repr=False)
    blueprint: Blueprint
    workdir: Path
    disk_owner: str = "root"  # "root" (a new Render disk) or "image" (podman's default)
    name: str = "render"  # of this deployment: two may run side by side
    edge_port: int = 0
    started: list[str] = field(default_factory=list)
    # uid:gid of each disk's root as created, before any service ran on it.
    new_disk_owner: dict[str, str] = field(default_factory=dict)

    @property
    def network(self) -> str:
        return self.engine.name(self.name)

    def container(self, name: str) -> Container:
        return Container(self.engine, self.engine.name(self.name, name))

    def volume(self, name: str) -> str:
        disk = self.blueprint.services[name].spec["disk"]
        return self.engine.name(self.name, name, disk["name"])

    # --- deploy ---------------------------------------------------------------------------

    def deploy(self, *names: str) -> None:
        """Create the network and disks, start every service (or ``names``) at once, then the
        edge."""
        self.engine.podman("network", "create", "--label", self.engine.label, self.network)
        for service in self.blueprint.services.values():
            if names and service.name not in names:
                continue
            if "disk" in service.spec:
                self._create_disk(service)
            service.host_port = free_port()
            self._run(service)
        self._start_edge()

    def _create_disk(self, service: Service) -> None:
        args = ["volume", "create", "--label", self.engine.label]
        if self.disk_owner == "root":
            args += ["--opt", "o=uid=0,gid=0"]
        volume = self.volume(service.name)
        self.engine.podman(*args, volume)
        self.new_disk_owner[service.name] = self.engine.podman(
            "run", "--rm", "--label", self.engine.label, "--health-interval", "disable",
            "--user", "0", "--volume", f"{volume}:/disk",
            "--entrypoint", '["stat", "-c", "%u:%g", "/disk"]', service.image.ref,
        ).stdout.strip()  # fmt: skip

    def _env_file(self, name: str, env: Mapping[str, str]) -> Path:
        # A file, never the command line: the values are secrets, and a failing podman
        # command is quoted whole in the test's error.
        path = self.workdir / f"{name}.env"
        path.touch(mode=0o600)
        path.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        return path

    def _run(self, service: Service, *, name: str | None = None, **overrides: str) -> Container:
        container = self.container(name or service.name)
        args = [
            "run", "--detach", "--name", container.name, "--label", self.engine.label,
            "--network", self.network, "--env-file",
            str(self._env_file(name or service.name, {**service.env, **overrides})),
            "--publish", f"127.0.0.1:{service.host_port}:{service.port}",
            # Render runs its own health checks, not the image's HEALTHCHECK.
            "--health-interval", "disable",
        ]  # fmt: skip
        if name is None:
            args += ["--network-alias", service.name]
        disk = service.spec.get("disk")
        if disk:
            args += ["--volume", f"{self.volume(service.name)}:{disk['mountPath']}"]
        self.engine.podman(*args, service.image.ref)
        self.started.append(container.name)
        return container

    def variant(self, name: str, instance: str, **overrides: str) -> Container:
        """Another instance of service ``name`` with some values changed, on its own host port
        and without the service's network name: a second deploy to compare with the first."""
        service = self.blueprint.services[name]
        if "disk" in service.spec:
            raise ValueError(f"{name} has a disk: a second instance cannot share it")
        other = Service(name, service.kind, service.spec, service.image, service.env, free_port())
        return self._run(other, name=f"{name}-{instance}", **overrides)

    def redeploy(self, name: str, timeout: float) -> None:
        """A new deploy of ``name``: the old container stops first (a service with a disk
        has no zero-downtime deploy), the disk stays, the new one starts and gets healthy."""
        self.discard(self.container(name).name, grace=30)
        service = self.blueprint.services[name]
        self._run(service)
        self.wait_healthy(name, timeout)
        # Render routes public traffic to the new instance once it is healthy. Here the edge
        # may first need to forget the old address (podman's network can hand the new
        # container an address a removed one had, and the edge's ARP entry goes stale).
        path = service.spec.get("healthCheckPath")
        if service.public_host and path:
            deadline = time.monotonic() + timeout
            url = f"{self.blueprint.external_url(name)}{path}"
            while not 200 <= self.public("GET", url, timeout=10).status_code < 400:
                if time.monotonic() > deadline:
                    raise AssertionError(f"the edge does not reach {name} after its deploy")
                time.sleep(1)

    def discard(self, container: str, grace: int = 5) -> None:
        self.engine.podman(
            "rm", "--force", "--volumes", "--time", str(grace), container, timeout=grace + 60
        )
        self.started.remove(container)

    def _start_edge(self) -> None:
        network = self.engine.inspect("network", self.network)
        gateway = network["subnets"][0]["gateway"]  # aardvark-dns answers there
        web = [s for s in self.blueprint.services.values() if s.public_host]
        servers = "".join(
            EDGE_SERVER.format(port=EDGE_PORT, public=s.public_host, hostport=s.hostport)
            for s in web
        )
        conf = self.workdir / "edge.conf"
        conf.write_text(EDGE_CONF.format(resolver=gateway, port=EDGE_PORT, servers=servers))
        self.edge_port = free_port()
        edge = self.edge
        args = [
            "run", "--detach", "--name", edge.name, "--label", self.engine.label,
            "--network", self.network, "--health-interval", "disable",
            "--publish", f"127.0.0.1:{self.edge_port}:{EDGE_PORT}",
            # The console image's nginx, unprivileged, on port 80 of its own network namespace.
            "--sysctl", "net.ipv4.ip_unprivileged_port_start=0",
            "--volume", f"{conf}:/edge/nginx.conf:ro",
            "--entrypoint", json.dumps(
                ["nginx", "-p", "/tmp/", "-c", "/edge/nginx.conf", "-g", "daemon off;"]
            ),
        ]  # fmt: skip
        for service in web:
            args += ["--network-alias", str(service.public_host)]
        self.engine.podman(*args, IMAGES["console"].ref)
        self.started.append(edge.name)

    @property
    def edge(self) -> Container:
        return self.container("edge")

    # --- health ---------------------------------------------------------------------------

    def instance_url(self, name: str, path: str = "") -> str:
        """The instance itself (Render's health checker's view), from the host."""
        return f"http://127.0.0.1:{self.blueprint.services[name].host_port}{path}"

    def healthy(self, name: str) -> bool:
        service = self.blueprint.services[name]
        path = service.spec.get("healthCheckPath")
        if path is None:  # private services: a TCP connect
            try:
                with socket.create_connection(("127.0.0.1", service.host_port), timeout=3):
                    return True
            except OSError:
                return False
        try:
            answer = requests.get(self.instance_url(name, path), timeout=5, allow_redirects=False)
        except requests.RequestException:
            return False
        return 200 <= answer.status_code < 400

    def wait_healthy(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        container = self.container(name)
        while not self.healthy(name):
            if not container.running():
                raise AssertionError(f"{name} exited:\n{container.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{name} not healthy after {timeout:.0f}s:\n{container.tail()}"
                )
            time.sleep(1)

    # --- the public side --------------------------------------------------------------------

    def public(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """``url`` (a public URL) requested from the host through the edge, as a client on
        the internet would, Host header and all; like ``curl --resolve``."""
        parts = urlsplit(url)
        publics = {s.public_host for s in self.blueprint.services.values() if s.public_host}
        if parts.hostname not in publics or parts.port not in (None, EDGE_PORT):
            raise ValueError(f"{parts.netloc} is not a public URL of this Blueprint")
        target = f"http://127.0.0.1:{self.edge_port}{parts.path or '/'}"
        if parts.query:
            target += f"?{parts.query}"
        headers = {**kwargs.pop("headers", {}), "Host": parts.netloc}
        kwargs.setdefault("timeout", 30)
        return requests.request(method, target, headers=headers, **kwargs)

    def remove(self) -> None:
        for name in reversed(self.started):
            self.engine.podman(
                "rm", "--force", "--volumes", "--time", "5", name, check=False, timeout=60
            )
        self.engine.podman("network", "rm", "--force", self.network, check=False)
        for service in self.blueprint.services.values():
            if "disk" in service.spec:
                self.engine.podman(
                    "volume", "rm", "--force", self.volume(service.name), check=False
                )
