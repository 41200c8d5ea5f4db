"""A real nginx, configured by console/render.py exactly as the console image starts it."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from harness.minio_server import ROOT
from harness.processes import free_port, log_tail, start_logged, stop_process

NGINX = Path("/usr/sbin/nginx")


def worker_user() -> str | None:
    """Started as root, nginx would run its workers as "nobody"; keep them as us instead."""
    return pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None


def render_command(prefix: Path, *, listen_host: str = "127.0.0.1") -> list[str]:
    command = [
        sys.executable,
        "-m",
        "console.render",
        "--prefix",
        str(prefix),
        "--listen-host",
        listen_host,
    ]
    user = worker_user()
    return command + (["--worker-user", user] if user else [])


def nginx_command(prefix: Path, *extra: str) -> list[str]:
    return [str(NGINX), "-p", f"{prefix}/", "-c", "nginx.conf", "-e", "stderr", *extra]


@dataclass
class ConsoleProxy:
    prefix: Path
    upstream_port: int
    env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.prefix.parent / f"{self.prefix.name}.log"

    def start(self, timeout: float = 20) -> ConsoleProxy:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CONSOLE_", "PORT"))}
        env.update(PORT=str(self.port), CONSOLE_UPSTREAM_HOST="127.0.0.1")
        env.update(CONSOLE_UPSTREAM_PORT=str(self.upstream_port), **self.env)
        # The image's ENTRYPOINT + CMD: render, then exec nginx in the foreground.
        command = [
            *render_command(self.prefix),
            "--",
            *nginx_command(self.prefix, "-g", "daemon off;"),
        ]
        self.proc = start_logged(command, self.log_path, env=env, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"nginx did not answer /healthz within {timeout}s:\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        # SIGQUIT is nginx's graceful stop: requests in flight finish.
        stop_process(proc, signal.SIGQUIT, kill_group=True)

    def log_tail(self, lines: int = 40) -> str:
        return log_tail(self.log_path, lines)


class _Echo(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        headers: dict[str, list[str]] = {}
        for name, value in self.headers.items():
            headers.setdefault(name.lower(), []).append(value)
        body = json.dumps({"path": self.path, "headers": headers}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


class EchoUpstream:
    """A real HTTP server on 127.0.0.1 that answers each GET with the headers it received:
    what nginx forwards upstream, seen from the upstream's side (the console shows nothing)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Echo)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> EchoUpstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)
