"""A rotation's result as a value, and the step runner that builds it.

Each step is named (the name appears in the journal, in ``--json`` and in the error line), is
run once, and ends ok, failed or skipped with a one-line detail that never holds a secret.
Any exception a step raises, expected or not, becomes a failure of that step, so whatever goes
wrong after the first change is followed by a rollback.

``--json`` prints::

    {"ok": false, "command": "rotate-root", "target": "native", "dry_run": false,
     "failed_step": "verify-new", "error": "...", "hint": null, "rolled_back": true,
     "recovered": null, "warnings": [], "facts": {...},
     "steps": [{"step": "check-current", "status": "ok", "detail": "..."}, ...]}

plus ``"secrets": {...}`` only with ``--show-secrets``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bootstrap.s3 import explain
from common.errors import ExitCode, StackError

T = TypeVar("T")

# Called with each step's name just before the step runs (after its journal entry is written).
# The shipped commands never have one; a test entry point (harness/faulty_cli.py) passes one
# that fails or crashes at a chosen step, so the rollback and crash-recovery paths, which real
# failures rarely reach, are exercised through the real commands.
FaultHook = Callable[[str], None]


@dataclass(frozen=True)
class StepResult:
    step: str
    status: str  # ok | failed | skipped
    detail: str


class StepFailed(Exception):
    def __init__(self, step: str, error: StackError) -> None:
        super().__init__(f"{step}: {error.one_line()}")
        self.step = step
        self.error = error


@dataclass
class Outcome:
    command: str
    target: str
    dry_run: bool = False
    steps: list[StepResult] = field(default_factory=list)
    failed_step: str | None = None
    error: StackError | None = None
    rolled_back: bool | None = None  # None: nothing needed undoing
    rollback_error: StepFailed | None = None
    recovered: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.failed_step is None

    def fail(self, failed: StepFailed) -> None:
        self.failed_step = failed.step
        self.error = failed.error

    @property
    def exit_code(self) -> ExitCode:
        if self.error is None:
            return ExitCode.OK
        return self.error.exit_code if self.error.exit_code != ExitCode.OK else ExitCode.FAILED

    def error_line(self) -> str:
        """One line naming the failed step, what went wrong and where things stand now."""
        assert self.error is not None and self.failed_step is not None
        line = f"{self.command} failed at step {self.failed_step}: {self.error.one_line()}"
        if self.rolled_back:
            line += "; rolled back: the previous credentials work again"
        elif self.rollback_error is not None:
            line += (
                f"; ROLLBACK FAILED at {self.rollback_error.step}: "
                f"{self.rollback_error.error.one_line()}; the journal keeps both credential "
                "sets: fix the cause and re-run the same command to finish the rollback"
            )
        return line

    def to_json(self, show_secrets: bool = False) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ok": self.ok,
            "command": self.command,
            "target": self.target,
            "dry_run": self.dry_run,
            "failed_step": self.failed_step,
            "error": self.error.message if self.error else None,
            "hint": self.error.hint if self.error else None,
            "rolled_back": self.rolled_back,
            "rollback_failed_step": self.rollback_error.step if self.rollback_error else None,
            "recovered": self.recovered,
            "warnings": self.warnings,
            "facts": self.facts,
            "summary": self.summary,
            "steps": [s.__dict__ for s in self.steps],
        }
        if show_secrets:
            doc["secrets"] = self.secrets
        return doc

    def text(self, show_secrets: bool = False) -> str:
        width = max((len(s.step) for s in self.steps), default=0)
        lines = [f"{self.command} ({self.target}){' --dry-run' if self.dry_run else ''}"]
        if self.recovered:
            lines.append(f"  recovered an unfinished run: {self.recovered.get('detail', '')}")
        lines += [f"  {s.status:<7} {s.step:<{width}}  {s.detail}" for s in self.steps]
        lines += [f"  warning: {w}" for w in self.warnings]
        if self.ok and self.summary:
            lines.append(self.summary)
        if show_secrets and self.secrets:
            lines += [f"{k}={v}" for k, v in self.secrets.items()]
        return "\n".join(lines)


@dataclass
class Steps:
    """Runs named steps into an Outcome; ``before`` is called first (the journal write)."""

    outcome: Outcome
    fault: FaultHook | None = None
    before: Callable[[str], None] | None = None

    def run(self, name: str, fn: Callable[[], T], detail: Callable[[T], str] | str = "") -> T:
        if self.before is not None:
            self.before(name)
        try:
            if self.fault is not None:
                self.fault(name)
            value = fn()
        except KeyboardInterrupt:
            error = StackError("interrupted")
            self.outcome.steps.append(StepResult(name, "failed", error.one_line()))
            raise StepFailed(name, error) from None
        except Exception as exc:  # any failure after a change must lead to a rollback
            error = explain(exc)
            self.outcome.steps.append(StepResult(name, "failed", error.one_line()))
            raise StepFailed(name, error) from None
        if callable(detail):
            text = detail(value)
        else:
            text = detail or (value if isinstance(value, str) else "")
        self.outcome.steps.append(StepResult(name, "ok", text))
        return value

    def skip(self, name: str, why: str) -> None:
        self.outcome.steps.append(StepResult(name, "skipped", why))
