"""stack/supervisor.py and stack/manager.py with a small real plan: one web server, no MinIO.

The plan is built by hand, so these tests show what the supervisor does with any plan: write
its files, run it under honcho in the background, wait for it, stop it, leave nothing behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from common.errors import StackError
from harness.processes import free_port
from stack import manager, supervisor
from stack.plan import PlannedFile, PortCheck, Process, StackPlan, procfile
from tests.native_stack import plan_settings


def _plan(tmp_path: Path, command: tuple[str, ...], port: int) -> StackPlan:
    stack = plan_settings(tmp_path)
    basics = {"PATH": os.environ["PATH"]}
    web = Process("web", command, basics)
    return StackPlan(
        stack=stack,
        processes=(web,),
        directories=(stack.data_dir, stack.data_dir / "site"),
        files=(PlannedFile(stack.data_dir / "Procfile", procfile((web,))),),
        ports=PortCheck({"WEB_PORT": port}),
        health=(("web", f"http://127.0.0.1:{port}/"),),
        manager_env=basics,
    )


def _web(tmp_path: Path, port: int) -> StackPlan:
    site = tmp_path / "data" / "site"  # in the data dir: `stop` recognises it as the stack's
    command = (sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    return _plan(tmp_path, (*command, "--directory", str(site)), port)


def _gone(pid: int) -> bool:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    return True


@pytest.fixture
def stopped_after(tmp_path: Path) -> Iterator[None]:
    yield
    supervisor.stop(plan_settings(tmp_path))
    # Even when `stop` missed one (the test failed): nothing of this test outlives it.
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(tmp_path) in arg for arg in proc.info["cmdline"] or ()):
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()


@pytest.mark.usefixtures("stopped_after")
def test_start_wait_stop_leaves_nothing_behind(tmp_path: Path) -> None:
    plan = _web(tmp_path, free_port())
    pid = supervisor.start(plan)
    supervisor.wait_healthy(plan, pid, timeout=60)

    paths = plan.paths
    assert (paths.data_dir / "site").is_dir()
    assert paths.procfile.read_text() == plan.files[0].text
    assert supervisor.running_pid(paths) == pid
    children = supervisor.child_pids(paths)
    assert list(children) == ["web"]

    assert supervisor.stop(plan.stack) == []  # the manager stopped its child: nothing was killed
    assert _gone(pid) and _gone(children["web"])
    assert not paths.pid.exists() and not paths.pids.exists()
    assert supervisor.running_pid(paths) is None
    assert "web" in supervisor.log_tail(paths)


@pytest.mark.usefixtures("stopped_after")
def test_a_plan_that_exits_while_starting_fails_early(tmp_path: Path) -> None:
    plan = _plan(tmp_path, ("false",), free_port())
    pid = supervisor.start(plan)
    with pytest.raises(StackError, match="stopped while starting"):
        supervisor.wait_healthy(plan, pid, timeout=60)


@pytest.mark.usefixtures("stopped_after")
def test_stop_cleans_up_after_a_killed_manager(tmp_path: Path) -> None:
    plan = _web(tmp_path, free_port())
    pid = supervisor.start(plan)
    supervisor.wait_healthy(plan, pid, timeout=60)
    web = supervisor.child_pids(plan.paths)["web"]
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)

    killed = supervisor.stop(plan.stack)

    assert "web" in killed
    assert _gone(web)


def test_the_manager_gets_the_processes_and_where_to_record_their_pids(tmp_path: Path) -> None:
    plan = _web(tmp_path, 8000)
    assert manager.handover(plan) == {
        "pids": str(tmp_path / "data" / "stack.pids"),
        "processes": [
            {
                "name": "web",
                "command": plan.processes[0].command,
                "env": dict(plan.processes[0].env),
            }
        ],
    }
