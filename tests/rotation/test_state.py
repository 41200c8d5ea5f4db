"""rotation/state.py: the journal a re-run after a crash reads."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from common.errors import StackError
from rotation.state import Journal, creds_from_json, journal_paths


def test_save_load_clear(tmp_path: Path) -> None:
    journal = Journal(tmp_path / ".env.rotate-root.json", "rotate-root")
    assert journal.load() is None
    journal.save({"step": "apply", "old": {"access_key": "a", "secret_key": "s"}})
    assert stat.S_IMODE(journal.path.stat().st_mode) == 0o600
    doc = journal.load()
    assert doc["step"] == "apply" and doc["kind"] == "rotate-root" and doc["version"] == 1
    journal.clear()
    assert journal.load() is None


def test_a_journal_of_another_kind_or_damaged_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.json"
    path.write_text(json.dumps({"kind": "signer-key"}))
    with pytest.raises(StackError, match="not a rotate-root journal"):
        Journal(path, "rotate-root").load()
    path.write_text("{half")
    with pytest.raises(StackError, match="not a rotate-root journal"):
        Journal(path, "rotate-root").load()


def test_incomplete_credentials_are_named_without_values() -> None:
    with pytest.raises(StackError, match="incomplete") as caught:
        creds_from_json({"access_key": "distinct-access-key"}, "j.json")
    assert "distinct-access-key" not in caught.value.one_line()


def test_paths_sit_next_to_the_env_file(tmp_path: Path) -> None:
    paths = journal_paths(tmp_path / ".env")
    assert [p.name for p in paths] == [
        ".env.rotate-root.json",
        ".env.signer-key.json",
        ".env.rotation.lock",
    ]
    assert {p.parent for p in paths} == {tmp_path}
