"""Typed reading of settings from an environment mapping, collecting every problem at once.

Each package builds one frozen settings object from ``os.environ`` at start (12-factor);
nothing else reads the environment. ``Env`` records every invalid variable instead of
stopping at the first, so an operator fixes a deploy in one round trip. ``*_FILE`` variants
are honoured for secrets (Docker/Compose secrets convention).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from pydantic import ByteSize, TypeAdapter, ValidationError

from common.errors import ConfigError

T = TypeVar("T")

_DURATION_RE = re.compile(r"(\d+)(ms|s|m|h|d)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# pydantic's ByteSize does the unit arithmetic (``15MiB``, ``5GiB``, ``100MB``, ``1.5GiB``). Two
# things are checked first: the whole text is one number and one unit (ByteSize reads a prefix,
# so ``1.5.5MiB`` would be 1 byte), and a bare IEC prefix (``15Mi``) gets its ``B``, as the kit
# has always accepted it.
_BYTE_SIZE: TypeAdapter[ByteSize] = TypeAdapter(ByteSize)
_SIZE_FORM = re.compile(r"(?i)\s*\d+(?:\.\d+)?\s*(?:[KMGT]i?B?|B)?\s*")
_BARE_IEC = re.compile(r"(?i)([KMGT]i)\s*$")


def parse_duration(text: str) -> float:
    """Parse Go-style durations (``90s``, ``15m``, ``24h``, ``1h30m``, ``7d``) to seconds.

    A bare number is seconds. Raises ValueError naming the accepted forms.
    """
    s = str(text).strip().lower()
    if re.fullmatch(r"\d+", s):
        return float(s)
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise ValueError(f"{text!r} is not a duration; use forms like 90s, 15m, 24h, 1h30m or 7d")
    return total


def format_duration(seconds: float) -> str:
    """Render seconds the way MinIO and Go print durations (``24h0m0s`` style, no zero tail)."""
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    out = ""
    if h:
        out += f"{h}h"
    if m or (h and s):
        out += f"{m}m"
    if s or not out:
        out += f"{s}s"
    return out


def parse_size(text: str | int) -> int:
    """Parse a byte size: ``5GiB``, ``15MiB``, ``8MB``, ``1048576``.

    IEC units (Ki/Mi/Gi) are powers of 2, SI units (K/M/G, KB/MB/GB) powers of 10.
    """
    if isinstance(text, bool) or (isinstance(text, int) and text < 0):
        raise ValueError(f"{text!r} is not a size; sizes are whole numbers of bytes >= 0")
    bad = ValueError(f"{text!r} is not a size; use forms like 1048576, 15MiB, 5GiB or 100MB")
    if isinstance(text, str) and not _SIZE_FORM.fullmatch(text):
        raise bad
    value = _BARE_IEC.sub(r"\1B", text) if isinstance(text, str) else text
    try:
        return int(_BYTE_SIZE.validate_python(value))
    except ValidationError:
        raise bad from None


def parse_bool(text: str) -> bool:
    s = str(text).strip().lower()
    if s in {"1", "true", "yes", "on"}:
        return True
    if s in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"{text!r} is not a boolean; use true or false")


class Env:
    """Reads typed values from an environment mapping and remembers every problem.

    Call ``raise_if_invalid()`` after reading everything.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._env = environ
        self.problems: list[tuple[str, str]] = []

    def problem(self, name: str, why: str) -> None:
        self.problems.append((name, why))

    def raw(self, name: str) -> str | None:
        """The value of NAME, or the contents of the file named by NAME_FILE."""
        value = self._env.get(name)
        file_var = f"{name}_FILE"
        path = self._env.get(file_var)
        if value not in (None, "") and path:
            self.problem(name, f"set both {name} and {file_var}; set only one")
            return value
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                self.problem(file_var, f"cannot read {path}: {exc.strerror}")
                return None
        return value if value not in (None, "") else None

    def str(self, name: str, default: str | None = None, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None:
            if required:
                self.problem(name, "is required but not set")
            return default
        return value

    def parsed(self, name: builtins.str, parse: Callable[[builtins.str], T], default: T) -> T:
        value = self.raw(name)
        if value is None:
            return default
        try:
            return parse(value)
        except ValueError as exc:
            self.problem(name, str(exc))
            return default

    def bool(self, name: builtins.str, default: bool) -> bool:
        return self.parsed(name, parse_bool, default)

    def duration(self, name: builtins.str, default: float) -> float:
        return self.parsed(name, parse_duration, default)

    def list(self, name: builtins.str) -> list[builtins.str]:
        value = self.raw(name)
        if value is None:
            return []
        return [item.strip() for item in value.split(",") if item.strip()]

    def raise_if_invalid(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)
