"""In CI a skipped capability is a failure, so a missing nginx or chromium cannot pass silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import SHARED_SKIP

ROOT = Path(__file__).resolve().parents[1]


def _run(tmp_path: Path, body: str, ci: str) -> subprocess.CompletedProcess[str]:
    # A test module inside tests/ (so tests/conftest.py applies), removed afterwards.
    module = ROOT / "tests" / f"test_tmp_ci_skips_{os.getpid()}.py"
    module.write_text(f"import pytest\n\n\ndef test_it():\n    {body}\n")
    try:
        return subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(module)],
            cwd=ROOT,
            env={**os.environ, "CI": ci},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        module.unlink()


def test_a_skip_fails_in_ci_and_names_what_was_missing(tmp_path: Path) -> None:
    done = _run(tmp_path, 'pytest.skip("nginx missing: apt-get install nginx")', "true")
    assert done.returncode == 1
    assert "skipped in CI, where every capability must run" in done.stdout
    assert "nginx missing" in done.stdout


def test_outside_ci_it_stays_a_skip(tmp_path: Path) -> None:
    done = _run(tmp_path, 'pytest.skip("nginx missing")', "")
    assert done.returncode == 0
    assert "1 skipped" in done.stdout


def test_the_shared_folder_may_be_absent_even_in_ci(tmp_path: Path) -> None:
    done = _run(tmp_path, f'pytest.skip("../shared/x not found: {SHARED_SKIP}")', "true")
    assert done.returncode == 0
    assert "1 skipped" in done.stdout
