"""rotation/envedit.py and files.py: the .env rewrite rotation relies on."""

from __future__ import annotations

import os
import stat
from datetime import UTC, datetime

import pytest
from dotenv import dotenv_values

from common.errors import ConfigError, StackError
from rotation import envedit
from rotation.files import RotationLock, backup, write_private

EXAMPLE = """# comment kept
MINIO_ROOT_USER=admin
MINIO_ROOT_PASSWORD=old-password-123

export SIGNER_ACCESS_KEY=signer
CORS_ALLOWED_ORIGINS=http://localhost:3000
"""


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_only_the_named_lines_change(tmp_path) -> None:
    path = tmp_path / ".env"
    path.write_text(EXAMPLE)
    os.chmod(path, 0o644)
    saved = envedit.rewrite(
        path,
        {"MINIO_ROOT_PASSWORD": "n3w", "SIGNER_ACCESS_KEY": "signer-g2", "NEW_VAR": "x"},
        now=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    text = path.read_text()
    assert text.splitlines() == [
        "# comment kept",
        "MINIO_ROOT_USER=admin",
        "MINIO_ROOT_PASSWORD=n3w",
        "",
        "export SIGNER_ACCESS_KEY=signer-g2",
        "CORS_ALLOWED_ORIGINS=http://localhost:3000",
        "NEW_VAR=x",
    ]
    assert _mode(path) == 0o600  # tightened even if it was looser
    assert saved.name == ".env.bak-20260102T030405Z"
    assert saved.read_text() == EXAMPLE and _mode(saved) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env", ".env.bak-20260102T030405Z"]


def test_values_that_need_quoting_read_back_unchanged(tmp_path) -> None:
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    value = "with space#and$dollar"
    envedit.rewrite(path, {"A": value})
    assert dotenv_values(path)["A"] == value
    with pytest.raises(ValueError, match="may not contain"):
        envedit.quote("it's")


def test_backups_within_one_second_do_not_collide(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_text("one")
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    first, second = backup(path, moment), backup(path, moment)
    assert first != second and first.read_text() == second.read_text() == "one"


def test_secrets_from_files_are_refused(tmp_path) -> None:
    config = {"MINIO_ROOT_PASSWORD_FILE": "/run/secrets/root"}
    with pytest.raises(ConfigError) as caught:
        envedit.check_no_file_variants(config, ["MINIO_ROOT_PASSWORD"], tmp_path / ".env")
    assert "MINIO_ROOT_PASSWORD_FILE" in caught.value.one_line()


def test_a_failed_write_leaves_the_old_file_and_no_temp(tmp_path, monkeypatch) -> None:
    path = tmp_path / "state.json"
    write_private(path, "old")

    def broken_replace(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        write_private(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


def test_the_lock_is_exclusive_and_released(tmp_path) -> None:
    lock = tmp_path / "x.lock"
    with (
        RotationLock(lock),
        pytest.raises(StackError, match="another rotation"),
        RotationLock(lock),
    ):
        pass
    with RotationLock(lock):  # released on exit
        pass
