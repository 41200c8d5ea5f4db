"""rotation/report.py: the step runner and its fault hook, with plain values."""

from __future__ import annotations

import pytest

from common.errors import StackError
from rotation.report import Outcome, StepFailed, Steps


def test_without_a_hook_steps_just_run() -> None:
    out = Outcome("rotate-root", "native")
    steps = Steps(out)
    assert steps.run("generate", lambda: "done") == "done"
    assert [(s.step, s.status, s.detail) for s in out.steps] == [("generate", "ok", "done")]


def test_the_hook_sees_every_step_after_the_journal_and_can_fail_one() -> None:
    seen: list[str] = []

    def journal(step: str) -> None:
        seen.append(f"journal {step}")

    def fault(step: str) -> None:
        seen.append(f"fault {step}")
        if step == "verify-new":
            raise StackError("injected")

    out = Outcome("rotate-root", "native")
    steps = Steps(out, fault, before=journal)
    steps.run("apply", lambda: "written")
    with pytest.raises(StepFailed) as info:
        steps.run("verify-new", lambda: pytest.fail("the step ran despite the fault"))

    assert seen == ["journal apply", "fault apply", "journal verify-new", "fault verify-new"]
    assert info.value.step == "verify-new" and info.value.error.message == "injected"
    assert [s.status for s in out.steps] == ["ok", "failed"]
