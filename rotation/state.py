"""The rotation journal: a JSON state file (mode 0600) next to .env, written before each step.

``rotate-root`` keeps ``<env file>.rotate-root.json`` only while it runs: it is written (with
the old and the new credentials, and the step about to run) before the first change, updated
before every later step, and removed once the rotation is verified or rolled back. Finding it
at the start of a run therefore means the previous run died in the middle; the journal holds
everything needed to roll that run back (or to finish it, when it had reached ``done``).

``rotate-signer-key`` keeps ``<env file>.signer-key.json`` for the whole overlap: which key is
old, which is new, and when the old one may be revoked.

Both hold secrets, hence 0600 and atomic writes (files.write_private).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bootstrap.settings import Credentials
from common.errors import StackError
from rotation.files import write_private

VERSION = 1


def now_text(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def creds_to_json(creds: Credentials) -> dict[str, str]:
    return {"access_key": creds.access_key, "secret_key": creds.secret_key}


def creds_from_json(doc: Any, where: str) -> Credentials:
    try:
        return Credentials(str(doc["access_key"]), str(doc["secret_key"]))
    except (TypeError, KeyError):
        raise StackError(
            f"{where} is damaged: a credential set is incomplete",
            hint="restore it from a backup, or remove it after checking which credentials work",
        ) from None


@dataclass(frozen=True)
class Journal:
    """One state file. ``load`` returns None when there is none."""

    path: Path
    kind: str  # "rotate-root" or "signer-key": a file of the other kind is refused

    def load(self) -> dict[str, Any] | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StackError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        if not isinstance(doc, dict) or doc.get("kind") != self.kind:
            raise StackError(
                f"{self.path} is not a {self.kind} journal this version can read",
                hint="it may hold credentials: inspect it, then move it away and re-run",
            )
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        doc = {**doc, "kind": self.kind, "version": VERSION, "updated_at": now_text()}
        write_private(self.path, json.dumps(doc, indent=2, sort_keys=True) + "\n")

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def journal_paths(env_file: Path) -> tuple[Path, Path, Path]:
    """(rotate-root journal, signer-key state, lock file) beside the env file."""
    base = env_file.name
    return (
        env_file.with_name(f"{base}.rotate-root.json"),
        env_file.with_name(f"{base}.signer-key.json"),
        env_file.with_name(f"{base}.rotation.lock"),
    )
