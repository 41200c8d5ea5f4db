"""Storage faults: MinIO dies, hangs and comes back, under bootstrap and under the signer.

- Bootstrap: MinIO is SIGKILLed in the middle of a run (just before its Nth request) and
  restarted 5 s later on the same port and data dir; the run still converges within its
  timeout, and a second run finds nothing to change.
- Signer: with MinIO down (refusing) or hung (SIGSTOP: connections accepted, nothing
  answered), /readyz answers 503 and storage-bound calls answer storage_denied with
  retry_after_seconds, each within its storage timeout; when MinIO is back (same port, same
  data dir) everything works again without restarting the signer.
"""

from __future__ import annotations

import hashlib
import io
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from bootstrap import settings as bootstrap_settings
from bootstrap.converge import run as run_bootstrap
from harness.minio_server import MinioServer
from signer.app import create_app
from signer.settings import load
from tests.bootstrap.conftest import SIGNER_KEY, SIGNER_SECRET, CountingPool, env_for
from tests.signer.conftest import (
    API_TOKEN,
    POLICY_YAML,
    RunningSigner,
    assert_error,
    environment,
    make_identity,
)

RESTART_AFTER = 5.0
STORAGE_TIMEOUT = 2.0
# A request that has not answered by then is hanging: the storage timeout, a retry, slack.
HANG_GUARD = STORAGE_TIMEOUT * 3 + 5


# --- bootstrap ---------------------------------------------------------------------------------


class KillingPool(CountingPool):
    """Bootstrap's real pool; just before request number ``kill_at`` it SIGKILLs MinIO and
    schedules a restart (same port, same data dir) ``RESTART_AFTER`` seconds later."""

    def __init__(self, server: MinioServer, kill_at: int) -> None:
        super().__init__()
        self.server = server
        self.kill_at = kill_at
        self.killed_before: str | None = None
        self.restarter: threading.Timer | None = None

    def urlopen(self, method, url, redirect=True, **kw):  # noqa: ANN001 - urllib3's signature
        if len(self.requests) + 1 == self.kill_at and self.restarter is None:
            self.killed_before = f"{method} {url.split('?')[0]}"
            self.server.kill()
            self.restarter = threading.Timer(RESTART_AFTER, self._restart)
            self.restarter.start()
        return super().urlopen(method, url, redirect=redirect, **kw)

    def _restart(self) -> None:
        self.server.start(wait=False)


def _bootstrap_env(server: MinioServer) -> dict[str, str]:
    return env_for(server, BOOTSTRAP_TIMEOUT="60s")


@pytest.fixture(scope="module")
def requests_per_run(tmp_path_factory: pytest.TempPathFactory) -> int:
    """How many requests a first bootstrap run sends, counted on a throwaway server."""
    base = tmp_path_factory.mktemp("bootstrap-count")
    server = MinioServer(data_dir=base / "data", log_path=base / "minio.log").start()
    try:
        pool = CountingPool()
        report = run_bootstrap(bootstrap_settings.load(_bootstrap_env(server)), http=pool)
        assert report.ok, str(report)
        return len(pool.requests)
    finally:
        server.stop()


@pytest.mark.parametrize("where", ["early", "middle", "late"])
def test_bootstrap_converges_when_minio_is_killed_mid_run(
    minio_factory, requests_per_run: int, where: str
) -> None:
    kill_at = {"early": 2, "middle": requests_per_run // 2, "late": requests_per_run - 2}[where]
    server: MinioServer = minio_factory()
    pool = KillingPool(server, kill_at)
    settings = bootstrap_settings.load(_bootstrap_env(server))
    started = time.monotonic()
    try:
        report = run_bootstrap(settings, http=pool)
    finally:
        if pool.restarter is not None:
            pool.restarter.join()
    elapsed = time.monotonic() - started
    assert pool.killed_before, f"bootstrap sent fewer than {kill_at} requests"
    assert report.ok, f"killed before {pool.killed_before}:\n{report}"
    # Within its own timeout, which also covers the restart.
    assert elapsed < settings.timeout
    assert server.proc is not None and server.proc.poll() is None  # restarted by the timer

    # Converged for real: a second run finds every step as declared (it writes only its
    # verification probes), and the signer's identity works.
    second = run_bootstrap(bootstrap_settings.load(_bootstrap_env(server)))
    assert second.ok, str(second)
    assert {s.status.value for s in second.steps} == {"unchanged"}, str(second)
    signer = server.client(SIGNER_KEY, SIGNER_SECRET)
    signer.put_object("uploads", "after-kill.txt", io.BytesIO(b"ok"), 2)
    print(
        f"bootstrap killed before request {kill_at}/{requests_per_run} ({pool.killed_before}), "
        f"converged in {elapsed:.1f}s"
    )


# --- signer ------------------------------------------------------------------------------------


@pytest.fixture
def fragile(minio_factory, tmp_path: Path) -> Iterator[tuple[MinioServer, RunningSigner]]:
    """A MinIO of its own (the test kills it) and a real signer in front of it."""
    server: MinioServer = minio_factory()
    identity = make_identity(server, "faults")
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY_YAML)
    env = environment(identity, policy, SIGNER_STORAGE_TIMEOUT=f"{STORAGE_TIMEOUT:g}s")
    signer = RunningSigner(create_app(load(env))).start()
    try:
        yield server, signer
    finally:
        if server.proc is not None and server.proc.poll() is None:
            server.proc.send_signal(signal.SIGCONT)
        signer.stop()


def _post(signer: RunningSigner, path: str, body: dict) -> tuple[requests.Response, float]:
    started = time.monotonic()
    try:
        answer = requests.post(
            signer.url + path,
            json=body,
            headers={"Authorization": f"Bearer {API_TOKEN}"},
            timeout=HANG_GUARD,
        )
    except requests.Timeout:
        pytest.fail(f"{path} hung: no answer within {HANG_GUARD}s")
    return answer, time.monotonic() - started


def _readyz(signer: RunningSigner) -> requests.Response:
    try:
        return requests.get(signer.url + "/readyz", timeout=HANG_GUARD)
    except requests.Timeout:
        pytest.fail(f"/readyz hung: no answer within {HANG_GUARD}s")


def _uploaded(signer: RunningSigner, body: bytes) -> dict:
    intent, _ = _post(signer, "/v1/uploads/presign", {"content_type": "text/plain",
                                                       "size_bytes": len(body)})  # fmt: skip
    assert intent.status_code == 200, intent.text
    upload = intent.json()["upload"]
    put = requests.put(upload["url"], data=body, headers=upload["headers"], timeout=30)
    assert put.status_code == 200, put.text
    return intent.json()


def _storage_unavailable(answer: requests.Response) -> dict:
    assert answer.status_code in (502, 503), answer.text
    body = assert_error(answer, answer.status_code, "storage_denied")
    assert body.get("retry_after_seconds", 0) >= 1, body
    return body


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_signer_degrades_clearly_and_recovers_without_restart(fragile, fault: str) -> None:
    server, signer = fragile
    assert _readyz(signer).status_code == 200
    body = b"written before the fault"
    before = _uploaded(signer, body)

    if fault == "killed":
        server.kill()
    else:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGSTOP)

    ready = _readyz(signer)
    assert ready.status_code == 503
    assert_error(ready, 503, "storage_denied")
    complete, took_complete = _post(
        signer, "/v1/uploads/complete", {"intent_token": before["intent_token"]}
    )
    _storage_unavailable(complete)
    # A multipart upload is created on storage, so it cannot be presigned either.
    multipart, took_multipart = _post(
        signer, "/v1/uploads/presign",
        {"content_type": "application/octet-stream", "size_bytes": 10, "multipart": "force"},
    )  # fmt: skip
    _storage_unavailable(multipart)
    # A single PUT is signed without calling storage: still answered.
    single, _ = _post(signer, "/v1/uploads/presign", {"content_type": "text/plain",
                                                       "size_bytes": 3})  # fmt: skip
    assert single.status_code == 200

    if fault == "killed":
        server.start()  # same port, same data dir
    else:
        assert server.proc is not None
        server.proc.send_signal(signal.SIGCONT)

    # The same signer process, never restarted: ready again, and the interrupted upload
    # completes.
    deadline = time.monotonic() + 30
    while _readyz(signer).status_code != 200:
        assert time.monotonic() < deadline, "the signer did not become ready again"
        time.sleep(0.3)
    done, _ = _post(signer, "/v1/uploads/complete", {"intent_token": before["intent_token"]})
    assert done.status_code == 200, done.text
    assert done.json()["size_bytes"] == len(body)
    fetched = requests.get(done.json()["get_url"], timeout=30)
    assert fetched.content == body
    fresh = _uploaded(signer, b"after recovery")
    finished, _ = _post(signer, "/v1/uploads/complete", {"intent_token": fresh["intent_token"]})
    assert finished.status_code == 200, finished.text
    assert (
        finished.json()["etag"]
        == hashlib.md5(
            hashlib.md5(b"after recovery", usedforsecurity=False).digest(), usedforsecurity=False
        ).hexdigest()
        + "-1"  # a single upload is promoted as a one-part multipart copy
    )
    print(
        f"signer with MinIO {fault}: complete answered in {took_complete:.1f}s, "
        f"multipart presign in {took_multipart:.1f}s (storage timeout {STORAGE_TIMEOUT:g}s)"
    )
