"""Helpers for bootstrap tests: environments pointing at real servers, and a request counter.

``CountingPool`` is a real urllib3 connection pool that records each request it sends (method,
path, query, signing access key) before sending it: a way to prove "no write" against the
real server, not a mock. ``DroppingPool`` also drops chosen requests, as a flaky network
would, to prove that a whole operation is retried.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import urllib3

from bootstrap import settings as settings_mod
from harness.minio_server import MinioServer

APP_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.net"
SIGNER_KEY = "signer-uploads"
SIGNER_SECRET = "signer-secret-0123456789"
MINIO_STACK = Path(sys.executable).with_name("minio-stack")

# Every variable bootstrap reads, so a test's environment never inherits a stray one.
BOOTSTRAP_VARS = (
    "MINIO_ENDPOINT", "MINIO_REGION", "MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD",
    "MINIO_ROOT_USER_FILE", "MINIO_ROOT_PASSWORD_FILE", "MINIO_BUCKET", "CORS_ALLOWED_ORIGINS",
    "CORS_ALLOW_ANY", "MULTIPART_ABORT_AFTER", "SIGNER_ACCESS_KEY", "SIGNER_SECRET_KEY",
    "SIGNER_ACCESS_KEY_FILE", "SIGNER_SECRET_KEY_FILE", "BOOTSTRAP_TIMEOUT", "BOOTSTRAP_STRICT",
    "BUCKET_ENCRYPTION", "MINIO_KMS_SECRET_KEY", "MINIO_KMS_SECRET_KEY_FILE",
)  # fmt: skip


def env_for(server: MinioServer | None, **overrides: str | None) -> dict[str, str]:
    """A complete bootstrap environment for ``server``; ``None`` removes a variable."""
    env: dict[str, str | None] = {}
    if server is not None:
        env.update(
            MINIO_ENDPOINT=server.endpoint,
            MINIO_ROOT_USER=server.access_key,
            MINIO_ROOT_PASSWORD=server.secret_key,
        )
    env.update(
        MINIO_BUCKET="uploads",
        CORS_ALLOWED_ORIGINS=APP_ORIGIN,
        MULTIPART_ABORT_AFTER="2h",
        SIGNER_ACCESS_KEY=SIGNER_KEY,
        SIGNER_SECRET_KEY=SIGNER_SECRET,
        BOOTSTRAP_TIMEOUT="30s",
    )
    env.update(overrides)
    return {k: v for k, v in env.items() if v is not None}


def runner_env(env: dict[str, str]) -> dict[str, str | None]:
    """For click's CliRunner: set ``env`` and unset every other bootstrap variable."""
    return {**dict.fromkeys(BOOTSTRAP_VARS), **env}


def process_env(env: dict[str, str]) -> dict[str, str]:
    """For a subprocess: the test's environment without bootstrap variables, plus ``env``."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if k not in BOOTSTRAP_VARS and not k.startswith("MINIO_")
    }
    return {**keep, "MINIO_UPDATE": "off", **env}


def settings_for(server: MinioServer, **overrides: str | None) -> settings_mod.Settings:
    return settings_mod.load(env_for(server, **overrides))


def run_cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MINIO_STACK), *args],
        env=process_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: str
    access_key: str | None

    @property
    def is_write(self) -> bool:
        return self.method not in ("GET", "HEAD", "OPTIONS")


def signed_by(headers: Mapping[str, str], query: str) -> str | None:
    """The access key a request is signed with: in its Authorization header, or (presigned)
    in its X-Amz-Credential parameter."""
    auth = headers.get("Authorization", "")
    if "Credential=" in auth:
        return auth.split("Credential=", 1)[1].split("/", 1)[0]
    credential = parse_qs(query).get("X-Amz-Credential")
    return credential[0].split("/", 1)[0] if credential else None


class CountingPool(urllib3.PoolManager):
    """The real pool bootstrap uses, recording every request on its way out."""

    def __init__(self) -> None:
        super().__init__(timeout=urllib3.Timeout(connect=10, read=30), maxsize=10, retries=False)
        self.requests: list[Request] = []

    def urlopen(self, method, url, redirect=True, **kw):  # noqa: ANN001 - urllib3's signature
        parts = urlsplit(url)
        key = signed_by(kw.get("headers") or {}, parts.query)
        self.requests.append(Request(method, parts.path, parts.query, key))
        return super().urlopen(method, url, redirect=redirect, **kw)

    def writes_by(self, access_key: str) -> list[Request]:
        return [r for r in self.requests if r.is_write and r.access_key == access_key]


class DroppingPool(CountingPool):
    """The real pool, except that the first ``times`` requests that ``drops(method, url)``
    selects fail as a dropped connection does (a temporary error); the server never sees them.
    """

    def __init__(self, drops: Callable[[str, str], bool], times: int = 1) -> None:
        super().__init__()
        self.drops = drops
        self.left = times
        self.dropped: list[str] = []

    def urlopen(self, method, url, redirect=True, **kw):  # noqa: ANN001 - urllib3's signature
        if self.left and self.drops(method, url):
            self.left -= 1
            self.dropped.append(f"{method} {url.split('?')[0]}")
            raise urllib3.exceptions.ProtocolError("connection dropped (by the test's pool)")
        return super().urlopen(method, url, redirect=redirect, **kw)


@pytest.fixture(scope="module")
def module_minio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinioServer]:
    """A fresh server shared by one test module (for tests that change server-wide config)."""
    base = tmp_path_factory.mktemp("minio-module")
    server = MinioServer(data_dir=base / "data", log_path=base / "minio.log").start()
    yield server
    server.stop()
