"""Render console/nginx.conf.j2 from the environment, then (optionally) exec nginx.

The console image's ENTRYPOINT and the native `make up` both run this, so the proxy a
developer tries is the proxy Render runs. Settings are read once, from the environment,
and every bad variable is reported at once (exit 2) before anything is written.

Environment (defaults in brackets):
    PORT [9090]                    port to listen on (Render injects it)
    CONSOLE_UPSTREAM_HOST [127.0.0.1]  host of MinIO's console
    CONSOLE_UPSTREAM_PORT [9001]   port of MinIO's console (`--console-address`)
    CONSOLE_MAX_BODY_SIZE [0]      largest request body, e.g. 5GiB; 0 = no limit (MinIO's own)
    CONSOLE_ALLOWED_HOSTS []       comma-separated host names served; others get 421
    CONSOLE_RESOLVER []            DNS server for re-resolving the upstream while running;
                                   "auto" = the first nameserver in /etc/resolv.conf. nginx's
                                   resolver asks for exactly the name it is given, so a host
                                   name without dots is first qualified with resolv.conf's
                                   search domains (see qualify_upstream)
    CONSOLE_TRUSTED_PROXIES []     comma-separated addresses or CIDRs of the proxy in front
                                   (Render: 10.0.0.0/8); only from these are X-Forwarded-For
                                   and X-Forwarded-Proto believed. Empty: from nobody.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import socket
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import click
import jinja2

from common.envconfig import Env, parse_size
from common.errors import EXIT_CODES_HELP, ConfigError, ExitCode

TEMPLATE = Path(__file__).with_name("nginx.conf.j2")
CONFIG_NAME = "nginx.conf"
HEALTH_PATH = "/healthz"
DEFAULT_PORT = 9090
DEFAULT_UPSTREAM_PORT = 9001
ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - a container listens on every interface
RESOLV_CONF = Path("/etc/resolv.conf")
# How long the renderer waits for a short upstream name to resolve in some form (the upstream
# may deploy at the same time, as on Render) before it renders the name as given.
UPSTREAM_RESOLVE_WAIT = 120.0
# nginx creates each temp dir itself, but not their parent.
TEMP_DIR = "temp"
ENV_VARS = (
    "PORT",
    "CONSOLE_UPSTREAM_HOST",
    "CONSOLE_UPSTREAM_PORT",
    "CONSOLE_MAX_BODY_SIZE",
    "CONSOLE_ALLOWED_HOSTS",
    "CONSOLE_RESOLVER",
    "CONSOLE_TRUSTED_PROXIES",
)

_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def parse_port(text: str) -> int:
    if not text.strip().isdigit() or not 1 <= int(text) <= 65535:
        raise ValueError(f"{text!r} is not a TCP port; use a number from 1 to 65535")
    return int(text)


def parse_host(text: str) -> str:
    """A host name or IP address nginx can use in `server_name` or an upstream address."""
    host = text.strip().lower()
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
        return f"[{ip}]" if ip.version == 6 else str(ip)
    except ValueError:
        pass
    labels = host.removeprefix("*.").rstrip(".").split(".")
    if not host or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError(
            f"{text!r} is not a host name; use names like console.example.com (no scheme or port)"
        )
    return host


def parse_resolver(text: str, resolv_conf: Path = RESOLV_CONF) -> str:
    """``auto`` → the first nameserver of /etc/resolv.conf; otherwise IP addresses."""
    if text.strip().lower() == "auto":
        try:
            lines = resolv_conf.read_text().splitlines()
        except OSError as exc:
            raise ValueError(f"auto: cannot read {resolv_conf}: {exc.strerror}") from None
        for line in lines:
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "nameserver":
                return parse_resolver(fields[1])
        raise ValueError(f"auto: {resolv_conf} names no nameserver; give an IP address")
    out = []
    for item in text.replace(",", " ").split():
        try:
            ip = ipaddress.ip_address(item)
        except ValueError:
            raise ValueError(
                f"{item!r} is not an IP address; use e.g. 127.0.0.11, or auto"
            ) from None
        out.append(f"[{ip}]" if ip.version == 6 else str(ip))
    return " ".join(out)


def search_domains(resolv_conf: Path = RESOLV_CONF) -> tuple[str, ...]:
    """The domains the C resolver appends to a short name: the last ``search`` (or older
    ``domain``) line of resolv.conf, as resolv.conf(5) says; none when unreadable."""
    try:
        lines = resolv_conf.read_text().splitlines()
    except OSError:
        return ()
    domains: tuple[str, ...] = ()
    for line in lines:
        fields = line.split()
        if len(fields) >= 2 and fields[0] in ("search", "domain"):
            domains = tuple(d.rstrip(".") for d in fields[1:] if d.rstrip("."))
    return domains


def resolves(name: str) -> bool:
    """``name`` has an address, looked up as an absolute name (a trailing dot), so the C
    resolver adds no search domain to it: nginx's resolver will not either."""
    try:
        return bool(socket.getaddrinfo(name.rstrip(".") + ".", None, type=socket.SOCK_STREAM))
    except (socket.gaierror, UnicodeError):
        return False


def qualify_upstream(
    host: str,
    resolv_conf: Path = RESOLV_CONF,
    *,
    resolve: Callable[[str], bool] = resolves,
    wait: float = UPSTREAM_RESOLVE_WAIT,
    note: Callable[[str], None] = lambda line: None,
) -> str:
    """The form of a short upstream name nginx's resolver can find.

    nginx's ``resolver`` ignores resolv.conf's search domains: a private name that resolves
    only as ``<name>.<search domain>`` (Render's private network may be such a place) would
    never resolve. A name without dots is tried as the C resolver tries it: with each search
    domain in order, then as given (Docker's and podman's DNS answer bare service names); the
    first form that resolves is the one to render, the forms before it asked once more (the
    name may have appeared in the DNS server mid-pass). While none resolves, the lookups are
    repeated for up to ``wait`` seconds; then the name is kept as given. IP addresses and
    names with dots are returned unchanged.
    """
    if "." in host or ":" in host:
        return host
    candidates = [f"{host}.{domain}" for domain in search_domains(resolv_conf)] + [host]
    if candidates == [host]:
        return host
    deadline = time.monotonic() + wait
    waiting = False
    while True:
        for index, name in enumerate(candidates):
            if resolve(name):
                # Services start at once: the name may have appeared between two lookups of
                # this pass, after a preferred form was asked for. Ask for those once more.
                return next((n for n in candidates[:index] if resolve(n)), name)
        if time.monotonic() >= deadline:
            note(f"{host} did not resolve as {' or '.join(candidates)}; rendered as given")
            return host
        if not waiting:
            note(f"waiting up to {wait:.0f}s for {host} to resolve as {' or '.join(candidates)}")
            waiting = True
        time.sleep(1.0)


def parse_network(text: str) -> str:
    """An IP address or CIDR block, as nginx's ``set_real_ip_from`` and ``geo`` take it."""
    item = text.strip()
    try:
        network = ipaddress.ip_network(item, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            block = ipaddress.ip_network(item, strict=False)
            raise ValueError(f"{item!r} has host bits set; did you mean {block}?") from None
        raise ValueError(
            f"{item!r} is not an IP address or CIDR block; use e.g. 10.0.0.0/8"
        ) from None
    whole = network.num_addresses == 1 and "/" not in item
    return str(network.network_address) if whole else str(network)


@dataclass(frozen=True)
class ConsoleSettings:
    port: int
    upstream_host: str
    upstream_port: int
    max_body_size: int  # bytes; 0 = no limit
    allowed_hosts: tuple[str, ...]
    resolver: str  # "" = resolve the upstream once, at start
    trusted_proxies: tuple[str, ...] = ()  # forwarding headers are believed only from these

    @property
    def upstream(self) -> str:
        return f"{self.upstream_host}:{self.upstream_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> ConsoleSettings:
        """Read and validate every variable; raises ConfigError naming each bad one."""
        env = Env(environ)
        port = env.parsed("PORT", parse_port, DEFAULT_PORT)
        upstream_host = env.parsed("CONSOLE_UPSTREAM_HOST", parse_host, "127.0.0.1")
        upstream_port = env.parsed("CONSOLE_UPSTREAM_PORT", parse_port, DEFAULT_UPSTREAM_PORT)
        max_body_size = env.parsed("CONSOLE_MAX_BODY_SIZE", parse_size, 0)
        hosts: list[str] = []
        for item in env.list("CONSOLE_ALLOWED_HOSTS"):
            try:
                hosts.append(parse_host(item))
            except ValueError as exc:
                env.problem("CONSOLE_ALLOWED_HOSTS", str(exc))
        resolver = env.parsed("CONSOLE_RESOLVER", parse_resolver, "")
        proxies: list[str] = []
        for item in env.list("CONSOLE_TRUSTED_PROXIES"):
            try:
                proxies.append(parse_network(item))
            except ValueError as exc:
                env.problem("CONSOLE_TRUSTED_PROXIES", str(exc))
        env.raise_if_invalid()
        return cls(
            port,
            upstream_host,
            upstream_port,
            max_body_size,
            tuple(hosts),
            resolver,
            tuple(dict.fromkeys(proxies)),
        )


def render(
    settings: ConsoleSettings, *, listen_host: str = ALL_INTERFACES, worker_user: str | None = None
) -> str:
    """The nginx.conf text for these settings (pure: no I/O beyond reading the template)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE.parent),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - nginx config, not HTML
    )
    return env.get_template(TEMPLATE.name).render(
        listen=f"{parse_host(listen_host)}:{settings.port}",
        upstream=settings.upstream,
        max_body_size=settings.max_body_size,
        allowed_hosts=settings.allowed_hosts,
        resolver=settings.resolver,
        trusted_proxies=settings.trusted_proxies,
        worker_user=worker_user,
    )


def write_config(prefix: Path, text: str) -> Path:
    """Write nginx.conf into the prefix and create the temp dirs' parent nginx expects."""
    (prefix / TEMP_DIR).mkdir(parents=True, exist_ok=True)
    path = prefix / CONFIG_NAME
    path.write_text(text)
    return path


@click.command(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog=EXIT_CODES_HELP,
)
@click.option(
    "--prefix",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="nginx prefix dir (nginx -p): nginx.conf, nginx.pid and temp/ go here.",
)
@click.option(
    "--listen-host",
    default=ALL_INTERFACES,
    show_default=True,
    help="Address to listen on (the port is $PORT).",
)
@click.option(
    "--worker-user", default=None, help="Run nginx workers as this user (when started as root)."
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def main(prefix: Path, listen_host: str, worker_user: str | None, command: tuple[str, ...]) -> None:
    """Render nginx.conf from the environment into PREFIX, then exec COMMAND if given.

    Example: python -m console.render --prefix /tmp/nginx -- nginx -p /tmp/nginx -c nginx.conf
    """
    try:
        settings = ConsoleSettings.from_env(os.environ)
        if settings.resolver:
            host = qualify_upstream(
                settings.upstream_host, note=lambda line: click.echo(f"console: {line}", err=True)
            )
            settings = dataclasses.replace(settings, upstream_host=host)
        text = render(settings, listen_host=listen_host, worker_user=worker_user)
    except ConfigError as exc:
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(int(exc.exit_code))
    except ValueError as exc:
        click.echo(f"Error: --listen-host: {exc}", err=True)
        sys.exit(int(ExitCode.CONFIG))
    path = write_config(prefix, text)
    click.echo(f"console: wrote {path} (upstream {settings.upstream})", err=True)
    if command:
        # Replace this process, so nginx is the container's PID 1 child and gets its signals.
        os.execvp(command[0], list(command))  # noqa: S606 - the image's CMD, by design


if __name__ == "__main__":
    main()
