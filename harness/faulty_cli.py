"""``python -m harness.faulty_cli rotate-root ...``: the rotation commands with a fault injected.

Tests only; never shipped. The rollback and crash-recovery paths of a rotation are seldom
reached by real failures, so the tests reach them through the real commands with a fault at a
chosen step, read from the environment here and handed to the commands as a hook:

    MINIO_STACK_TEST_FAULT=fail:STEP    STEP fails as if its check had failed
    MINIO_STACK_TEST_FAULT=crash:STEP   the process dies (exit 99, as abrupt as kill -9) just
                                        before STEP, after the journal entry for it was written

Unset, the commands run without a fault. The shipped `minio-stack` never reads the variable.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import click

from common.errors import ExitCode, StackError
from rotation.cli import FaultInjection
from rotation.cli import main as rotation_main

FAULT_VARIABLE = "MINIO_STACK_TEST_FAULT"
CRASH_EXIT_CODE = 99
ACTIONS = ("fail", "crash")


class InjectedFailure(StackError):
    """The failure a ``fail:STEP`` fault raises in place of the step."""


@dataclass(frozen=True)
class Fault:
    action: str  # "fail" or "crash"
    step: str

    def __call__(self, step: str) -> None:
        if step != self.step:
            return
        if self.action == "crash":
            os._exit(CRASH_EXIT_CODE)  # no cleanup, no finally blocks: what a kill -9 leaves
        raise InjectedFailure(f"injected failure ({FAULT_VARIABLE}={self.action}:{self.step})")


def parse_fault(text: str) -> Fault:
    action, sep, step = text.partition(":")
    if not sep or action not in ACTIONS or not step:
        raise ValueError(f"{text!r} is not fail:STEP or crash:STEP")
    return Fault(action, step)


def fault_from(environ: Mapping[str, str]) -> Fault | None:
    text = environ.get(FAULT_VARIABLE, "")
    return parse_fault(text) if text else None


def main() -> None:
    try:
        fault = fault_from(os.environ)
    except ValueError as exc:
        click.echo(f"Error: {FAULT_VARIABLE}: {exc}", err=True)
        sys.exit(int(ExitCode.CONFIG))
    injection = FaultInjection(fault) if fault is not None else None
    rotation_main(prog_name="python -m harness.faulty_cli", obj=injection)


if __name__ == "__main__":
    main()
