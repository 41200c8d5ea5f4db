"""Errors and exit codes shared by every minio-stack command.

Errors split the way kopf splits them: a TemporaryError is worth retrying (the server is
starting, a connection was refused); a PermanentError is not (bad config, access denied).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Exit codes of every minio-stack command (listed in each --help epilog and the README)."""

    OK = 0
    FAILED = 1  # the server refused or a step failed
    CONFIG = 2  # bad arguments or configuration; nothing was changed
    TIMEOUT = 3  # waited the whole --timeout and the server never became ready


EXIT_CODES_HELP = (
    "Exit codes: 0 ok; 1 the server refused or a step failed; "
    "2 bad arguments or configuration (nothing changed); 3 timed out waiting."
)


class StackError(Exception):
    """Base of the kit's own errors: a message that names what was wrong, and how to fix it."""

    exit_code: ExitCode = ExitCode.FAILED

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class TemporaryError(StackError):
    """Worth retrying: the server is not ready yet, or could not be reached."""


class PermanentError(StackError):
    """Not worth retrying: the server refused, or the request itself is wrong."""


class WaitTimeout(StackError):
    exit_code = ExitCode.TIMEOUT


class ConfigError(StackError):
    """One or more settings are invalid. Lists every bad variable at once."""

    exit_code = ExitCode.CONFIG

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        text = "; ".join(f"{name}: {why}" for name, why in problems)
        super().__init__(f"invalid configuration: {text}")
