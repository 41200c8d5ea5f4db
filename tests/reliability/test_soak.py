"""The short soak in `make test` (5 s at 16 connections); `make soak` runs 60 s at 64.

Presign → PUT → complete against a real MinIO and the signer as its own process
(tests/reliability/soak.py): no error, no timeout, and the signer's memory does not run away.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import soak

pytestmark = pytest.mark.slow


def test_short_soak_has_no_errors_or_timeouts(tmp_path: Path) -> None:
    figures = soak.run(duration=5, connections=16, workdir=tmp_path)
    print(figures.summary())
    assert figures.errors == 0 and figures.timeouts == 0, figures.error_samples
    assert figures.iterations > 0
    assert figures.statuses.get("complete 200") == figures.iterations
    # A leak guard, generous for 5 s: a steady signer stays within a few MiB.
    assert figures.rss_flat(slack_mib=32, slack_ratio=0.5), figures.summary()


def test_soak_cli_refuses_nonsense_bounds(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        soak.main(["--duration", "0"])
    assert info.value.code == 2
    assert "--duration" in capsys.readouterr().err
