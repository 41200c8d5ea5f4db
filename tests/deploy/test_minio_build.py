"""One pin, one version stamp: `make minio` and the image build MinIO the same way."""

from __future__ import annotations

import subprocess

from harness.minio_server import MINIO_BINARY, ROOT

LDFLAGS = ROOT / "minio" / "ldflags.sh"


def _pin() -> dict[str, str]:
    lines = (ROOT / "minio" / "pin.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def _ldflags(version: str) -> str:
    return subprocess.run(
        [str(LDFLAGS), version], capture_output=True, text=True, check=True, timeout=30
    ).stdout


def test_a_pseudo_version_is_stamped_with_its_commit_time_and_id() -> None:
    flags = _ldflags("v0.0.0-20260212201848-7aac2a2c5b7c")
    assert "cmd.ReleaseTag=DEVELOPMENT.2026-02-12T20-18-48Z" in flags
    assert "cmd.CommitID=7aac2a2c5b7c" in flags
    assert "cmd.Version=2026-02-12T20:18:48Z" in flags


def test_any_other_version_is_reported_as_itself() -> None:
    flags = _ldflags("RELEASE.2025-10-15T17-29-55Z")
    assert "cmd.ReleaseTag=RELEASE.2025-10-15T17-29-55Z" in flags


def test_both_builds_use_the_one_script() -> None:
    for user in ("minio/build.sh", "minio/Dockerfile"):
        assert "ldflags.sh" in (ROOT / user).read_text(), user


def test_the_native_binary_reports_the_pin() -> None:
    out = subprocess.run(
        [str(MINIO_BINARY), "--version"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    pin = _pin()
    assert f"DEVELOPMENT.{pin['MINIO_VERSION_DATE']}T" in out, out
    assert pin["MINIO_VERSION"].rsplit("-", 1)[1] in out, out
