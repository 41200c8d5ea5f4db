"""Change a few variables of an env file in place: atomic, 0600, with a timestamped backup.

Only the named assignments change; comments, blank lines, order and every other variable stay
as the operator wrote them. A variable that is missing is appended. A variable whose secret
comes from ``NAME_FILE`` cannot be rotated by rewriting the env file, so that is refused
before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from common.errors import ConfigError
from rotation.files import backup, write_private

_ASSIGNMENT = re.compile(r"^(?P<lead>\s*(?:export\s+)?)(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*=")
_BARE = re.compile(r"[A-Za-z0-9_./:@+-]*")


def quote(value: str) -> str:
    """The value as dotenv and Compose both read it back unchanged."""
    if _BARE.fullmatch(value):
        return value
    if "'" in value or "\n" in value:
        raise ValueError("values written to an env file may not contain ' or a newline")
    return f"'{value}'"  # single quotes: no escapes, no ${} interpolation in Compose


def updated_text(text: str, updates: Mapping[str, str]) -> str:
    """``text`` with each key in ``updates`` assigned its new value (every occurrence)."""
    seen: set[str] = set()
    lines = []
    for line in text.splitlines():
        match = _ASSIGNMENT.match(line)
        if match and match["key"] in updates:
            key = match["key"]
            line = f"{match['lead']}{key}={quote(updates[key])}"
            seen.add(key)
        lines.append(line)
    lines += [f"{key}={quote(value)}" for key, value in updates.items() if key not in seen]
    return "\n".join(lines) + "\n"


def check_no_file_variants(config: Mapping[str, str], names: list[str], where: Path) -> None:
    problems = [
        (
            f"{name}_FILE (in {where.name})",
            f"the secret comes from a file; rotation rewrites {name} in {where.name}, so put the "
            f"value there (or rotate the file's content yourself)",
        )
        for name in names
        if config.get(f"{name}_FILE")
    ]
    if problems:
        raise ConfigError(problems)


def rewrite(path: Path, updates: Mapping[str, str], now: datetime | None = None) -> Path:
    """Apply ``updates`` to the env file at ``path``; returns the backup of the old file."""
    text = path.read_text(encoding="utf-8")
    new_text = updated_text(text, updates)
    saved = backup(path, now)
    write_private(path, new_text)
    return saved
