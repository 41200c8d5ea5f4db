"""Private files written atomically: secrets never appear half-written or world-readable.

Every file rotation writes (.env, its backups, the journals) goes through ``write_private``:
a temp file in the same directory, created 0600 with ``O_EXCL``, fsynced, then renamed over
the target, and the directory fsynced. A crash leaves the old file or the new one, never a
mix. ``RotationLock`` keeps two rotations of one deployment from running at once; the
kernel drops the lock when its holder dies, so a crashed run never blocks the next one.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from common.errors import StackError

PRIVATE_MODE = 0o600


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):  # not every filesystem lets a directory be fsynced
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically; the result is mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, PRIVATE_MODE)  # O_CREAT's mode is filtered by the umask
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def backup(path: Path, now: datetime | None = None) -> Path:
    """Copy ``path`` to ``<name>.bak-<UTC timestamp>`` beside it (0600); returns the copy."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bak-{stamp}")
    n = 1
    while target.exists():  # two rotations within one second keep both copies
        target = path.with_name(f"{path.name}.bak-{stamp}-{n}")
        n += 1
    write_private(target, path.read_text(encoding="utf-8"))
    return target


class RotationLock:
    """An exclusive, non-blocking lock on ``path`` for the duration of a ``with`` block."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def __enter__(self) -> RotationLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, PRIVATE_MODE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StackError(
                f"another rotation of this deployment is running (lock {self.path})",
                hint="wait for it to finish; the lock is released when it exits",
            ) from None
        self._fd = fd
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
