"""bench.peer: the Companion peer's pinned install, its load job, and why it cannot run."""

import json

import pytest

from bench import peer


def test_the_peer_is_pinned_by_its_lock_file() -> None:
    manifest = json.loads((peer.PEER_DIR / "package.json").read_text())
    lock = json.loads((peer.PEER_DIR / "package-lock.json").read_text())
    pinned = manifest["dependencies"][peer.PACKAGE]
    assert pinned[0].isdigit(), "an exact version, so every run measures the same Companion"
    assert lock["packages"][f"node_modules/{peer.PACKAGE}"]["version"] == pinned


def test_without_node_the_reason_is_said(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    reason = peer.ensure_installed()
    assert reason is not None and "Node.js" in reason


def test_the_job_asks_for_one_form_upload() -> None:
    class Fake:
        url = "http://127.0.0.1:1"

    job = peer.job(Fake(), 16, 5.0)  # type: ignore[arg-type]
    assert job.method == "GET" and job.connections == 16 and job.body == ""
    assert job.url == "http://127.0.0.1:1/s3/params?filename=bench.png&type=image%2Fpng"
    described = peer.describe()
    assert described["package"] == peer.PACKAGE and "POST policy" in described["signs"]
