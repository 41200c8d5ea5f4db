"""Shared fixtures: real MinIO servers (never a mock) and the paths tests read."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.minio_server import ROOT, MinioServer

SHARED = ROOT.parent / "shared"
SHARED_SKIP = "../shared/ exists only beside the project in its workspace"
_counter = itertools.count()
# In CI every capability must run: a skip there (a missing nginx, chromium, podman, ...) is a
# failure naming what was missing. Only the ../shared/ tests may skip (a clone has no ../shared/).
STRICT_SKIPS = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def shared_path(relative: str) -> Path:
    """A file under ../shared/, or a one-line skip (a clone outside the workspace has none)."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} not found: {SHARED_SKIP}")
    return path


@pytest.fixture(scope="session")
def minio(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[MinioServer]:
    """One MinIO for the session. Tests that change server-wide config use ``minio_factory``."""
    base = tmp_path_factory.mktemp("minio-session")
    server = MinioServer(data_dir=base / "data", log_path=base / "minio.log").start()
    request.config._minio_servers = getattr(request.config, "_minio_servers", []) + [server]
    yield server
    server.stop()


@pytest.fixture
def minio_factory(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator:
    """Start fresh MinIO servers (own data dir, ports, credentials); all stopped after the test."""
    servers: list[MinioServer] = []

    def make(start: bool = True, **kwargs) -> MinioServer:
        n = next(_counter)
        server = MinioServer(
            data_dir=kwargs.pop("data_dir", tmp_path / f"minio-{n}"),
            log_path=tmp_path / f"minio-{n}.log",
            **kwargs,
        )
        servers.append(server)
        request.node._minio_servers = servers
        return server.start() if start else server

    yield make
    for server in servers:
        server.stop()


@pytest.fixture
def fresh_minio(minio_factory) -> MinioServer:
    return minio_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if STRICT_SKIPS and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if SHARED_SKIP not in reason:
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where every capability must run: {reason}"
    if report.failed:
        servers = getattr(item, "_minio_servers", []) + getattr(item.config, "_minio_servers", [])
        for server in servers:
            report.sections.append((f"minio log ({server.endpoint})", server.log_tail()))
