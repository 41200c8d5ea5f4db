"""Runs a StackPlan: writes its files, starts its manager in the background, waits, stops it.

``start`` makes the plan's directories and files, then starts the manager
(``python -m stack.manager``, its own session, so it survives the shell that ran `make up`) and
records its pid in ``stack.pid``. ``wait_healthy`` polls the plan's health URLs and gives up
early when the manager has exited. ``stop`` signals the manager, which stops every process;
when the manager itself was killed, the child pids it recorded (``stack.pids``) are stopped
one by one, after checking each is still one of the stack's programs.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import requests

from common.errors import StackError, WaitTimeout
from stack import manager
from stack.plan import Paths, StackPlan
from stack.settings import StackSettings

STOP_GRACE_SECONDS = 30.0  # honcho itself escalates to SIGKILL 5s after its SIGTERM
POLL_SECONDS = 0.5
# How a command line shows it is the stack's manager. A stack started before the manager had
# its own module ran `python -m stack.native`; `make down` must still find and stop it.
_MANAGER_MARKERS = (manager.MODULE, "stack.native")


def start(plan: StackPlan) -> int:
    """Write the plan's files, start the manager in the background; returns its pid."""
    paths = plan.paths
    for directory in plan.directories:
        directory.mkdir(parents=True, exist_ok=True)
    for planned in plan.files:
        planned.path.write_text(planned.text)
    paths.pids.unlink(missing_ok=True)
    with open(paths.log, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", manager.MODULE],
            cwd=plan.stack.root,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # survives the shell that ran `make up`
            env=dict(plan.manager_env),
        )
    assert process.stdin is not None  # stdin=PIPE above
    process.stdin.write(json.dumps(manager.handover(plan)).encode())
    process.stdin.close()
    paths.pid.write_text(f"{process.pid}\n")
    return process.pid


def wait_healthy(plan: StackPlan, pid: int | None, timeout: float) -> None:
    """Until every health URL answers 200; fails early when the stack stopped (bootstrap failed)."""
    log = plan.paths.log
    pending = dict(plan.health)
    deadline = time.monotonic() + timeout
    while pending:
        pending = {name: url for name, url in pending.items() if not _answers(url)}
        if not pending:
            return
        if pid is not None and not _alive_child(pid):
            raise StackError(
                "the stack stopped while starting",
                hint=f"the end of {log} says why; fix that, then `make up` again",
            )
        if time.monotonic() > deadline:
            names = ", ".join(f"{name} ({url})" for name, url in pending.items())
            raise WaitTimeout(
                f"not healthy after {timeout:g}s: {names}",
                hint=f"see {log}; `make down` stops what started",
            )
        time.sleep(POLL_SECONDS)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2, allow_redirects=False).status_code == 200
    except requests.RequestException:
        return False


def running_pid(paths: Paths) -> int | None:
    """The manager's pid if it is running (a stale pid file is ignored)."""
    pid = _recorded_pid(paths)
    if pid is None:
        return None
    return pid if _alive(pid) and _is_manager(_command_line(pid)) else None


def child_pids(paths: Paths) -> dict[str, int]:
    try:
        lines = paths.pids.read_text().splitlines()
    except OSError:
        return {}
    return {name: int(pid) for name, pid in (line.split() for line in lines if line.strip())}


def log_tail(paths: Paths, lines: int = 25) -> str:
    try:
        return "\n".join(paths.log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(stack: StackSettings) -> list[str]:
    """Stop the stack; returns the names of processes that had to be killed. No process stays."""
    paths = Paths(stack.data_dir)
    pid = running_pid(paths)
    killed: list[str] = []
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        if not _wait_gone(pid, STOP_GRACE_SECONDS):
            killed.append("supervisor")
            _killpg(pid, signal.SIGKILL)
    else:
        # The manager died without stopping (SIGKILL, OOM): its helper processes, in its
        # process group, outlive it until their programs exit.
        recorded = _recorded_pid(paths)
        helpers = _manager_group(recorded) if recorded else []
        if helpers:
            killed.append("supervisor helpers")
        for helper in helpers:
            _kill_now(helper)
    for name, child in child_pids(paths).items():
        if _alive(child) and _ours(child, stack):
            # Outlived the manager (it was killed): each runs in its own process group.
            killed.append(name)
            _killpg(child, signal.SIGTERM)
            if not _wait_gone(child, 10):
                _killpg(child, signal.SIGKILL)
                _wait_gone(child, 5)
    paths.pid.unlink(missing_ok=True)
    paths.pids.unlink(missing_ok=True)
    return killed


# --- processes, by pid ---------------------------------------------------------------------------


def _is_manager(command_line: str) -> bool:
    return any(marker in command_line for marker in _MANAGER_MARKERS)


def _command_line(pid: int) -> str:
    # -ww: the whole line. Without it ps may cut it at a terminal's width, and with it the
    # data dir that tells a stack's program from a stranger on a reused pid.
    result = subprocess.run(
        ["ps", "-ww", "-p", str(pid), "-o", "command="], capture_output=True, text=True
    )
    return result.stdout.strip() if result.returncode == 0 else ""


def _alive(pid: int) -> bool:
    """Running: it exists and is not a zombie (an orphan's zombie waits for init to reap it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    state = subprocess.run(["ps", "-p", str(pid), "-o", "stat="], capture_output=True, text=True)
    return not state.stdout.strip().startswith("Z")


def _alive_child(pid: int) -> bool:
    """Alive, reaping it first if it is our own exited child (a zombie still answers kill 0)."""
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        done = 0
    return done == 0 and _alive(pid)


def _recorded_pid(paths: Paths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (OSError, ValueError):
        return None


def _manager_group(pgid: int) -> list[int]:
    """Live processes of the manager's process group that run the manager's code."""
    result = subprocess.run(
        ["ps", "-ww", "-A", "-o", "pid=,pgid=,command="], capture_output=True, text=True
    )
    found = []
    for line in result.stdout.splitlines():
        fields = line.split(None, 2)
        if len(fields) == 3 and fields[1] == str(pgid) and _is_manager(fields[2]):
            found.append(int(fields[0]))
    return found


def _ours(pid: int, stack: StackSettings) -> bool:
    """Still one of the stack's programs, not an unrelated process that reused a stale pid."""
    command = _command_line(pid)
    return str(stack.data_dir) in command or "minio-stack" in command


def _kill_now(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid, 5)


def _killpg(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive_child(pid):
            return True
        time.sleep(0.1)
    return not _alive_child(pid)
