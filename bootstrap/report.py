"""The result of a bootstrap run, as a value: per-step status, observed values, exit code.

``str(report)`` is for people; ``report.to_json()`` is for machines. The JSON shape printed by
``minio-stack bootstrap --json`` is stable::

    {
      "ok": true,                  # false when any step failed
      "plan": false,               # true with --plan: statuses say what *would* happen
      "exit_code": 0,              # 0 ok, 1 a step failed, 3 timed out waiting for MinIO
      "endpoint": "http://127.0.0.1:9000",
      "server": "minio",           # "minio" or "s3" (any other S3 server); null if not reached
      "steps": [
        {
          "step": "bucket",        # ready | bucket | privacy | cors | uploads | identity
          "target": "uploads",     # the bucket, or "server" for server-wide settings
          "status": "created",     # created | changed | unchanged | failed | skipped
          "detail": "create bucket uploads",
          "hint": null,            # how to fix it, when status is failed
          "changes": [             # made (or, with --plan, to make); kind: create|update|delete
            {"kind": "create", "what": "bucket uploads", "from": null, "to": null}
          ],
          "observed": {"exists": true},  # what was read back (never a secret)
          "verified": true         # real behaviour checked (never in plan mode)
        }
      ]
    }

Each step also renders as one structured log line (``log_line()``, logfmt key=value), which
the entrypoint writes to stderr.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bootstrap.step import Change
from common.errors import ExitCode


class Status(StrEnum):
    CREATED = "created"
    CHANGED = "changed"
    UNCHANGED = "unchanged"
    FAILED = "failed"
    SKIPPED = "skipped"


_PLAN_WORDS = {
    Status.CREATED: "would create",
    Status.CHANGED: "would change",
}


@dataclass(frozen=True)
class StepReport:
    step: str
    target: str
    status: Status
    detail: str = ""
    hint: str | None = None
    changes: tuple[Change, ...] = ()
    observed: dict[str, Any] = field(default_factory=dict)
    verified: bool = False  # verify() checked the result against the server's real behaviour
    timed_out: bool = False

    @property
    def label(self) -> str:
        return f"{self.step}[{self.target}]"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "target": self.target,
            "status": str(self.status),
            "detail": self.detail,
            "hint": self.hint,
            "changes": [c.to_json() for c in self.changes],
            "observed": self.observed,
            "verified": self.verified,
        }

    def log_line(self, plan: bool = False) -> str:
        fields: dict[str, Any] = {
            "event": "step",
            "step": self.step,
            "target": self.target,
            "status": str(self.status),
            "plan": "true" if plan else None,
            "changes": len(self.changes) or None,
            "verified": "true" if self.verified else None,
            "detail": self.detail or None,
            "hint": self.hint,
        }
        return logfmt(fields)


@dataclass(frozen=True)
class Report:
    plan: bool
    endpoint: str
    server: str | None
    steps: tuple[StepReport, ...]

    @property
    def ok(self) -> bool:
        return not any(s.status is Status.FAILED for s in self.steps)

    @property
    def exit_code(self) -> ExitCode:
        if self.ok:
            return ExitCode.OK
        if any(s.timed_out for s in self.steps):
            return ExitCode.TIMEOUT
        return ExitCode.FAILED

    @property
    def first_failure(self) -> StepReport | None:
        return next((s for s in self.steps if s.status is Status.FAILED), None)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for s in self.steps:
            out[str(s.status)] = out.get(str(s.status), 0) + 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "plan": self.plan,
            "exit_code": int(self.exit_code),
            "endpoint": self.endpoint,
            "server": self.server,
            "steps": [s.to_json() for s in self.steps],
        }

    def __str__(self) -> str:
        kind = {"minio": "MinIO", "s3": "S3"}.get(self.server or "", "unreached")
        head = f"bootstrap {self.endpoint} ({kind})" + (
            " — plan, nothing written" if self.plan else ""
        )
        lines = [head]
        width = max((len(s.label) for s in self.steps), default=0)
        pad = " " * (width + 16)
        for s in self.steps:
            status = _PLAN_WORDS.get(s.status, str(s.status)) if self.plan else str(s.status)
            shown = s.status in (Status.CREATED, Status.CHANGED)
            texts = [str(c) for c in s.changes] if shown else []
            first = texts[0] if texts else s.detail
            mark = "  (verified)" if s.verified else ""
            lines.append(f"  {s.label:<{width}}  {status:<12}  {first}{mark}".rstrip())
            lines.extend(f"  {pad}{text}" for text in texts[1:])
            if s.hint and s.status is Status.FAILED:
                lines.append(f"  {pad}hint: {s.hint}")
        summary = ", ".join(f"{n} {status}" for status, n in self.counts().items())
        noun = "step" if len(self.steps) == 1 else "steps"
        lines.append(f"{len(self.steps)} {noun}: {summary}")
        return "\n".join(lines)


def logfmt(fields: dict[str, Any]) -> str:
    """key=value pairs; values with spaces or quotes are JSON-quoted. None values are dropped."""
    parts = ["minio-stack"]
    for key, value in fields.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if not text or any(ch in text for ch in ' "=\\\n'):
            text = json.dumps(text)
        parts.append(f"{key}={text}")
    return " ".join(parts)
