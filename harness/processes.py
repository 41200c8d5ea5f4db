"""Child processes of the test servers: free loopback ports, a start that logs to a file (and
one that also waits until the child answers), a bounded stop, and the log's last lines for
failure messages."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

import requests

STOP_GRACE_SECONDS = 10


class LoopbackHTTP:
    """``host`` and ``endpoint`` of a test server whose S3 API listens on 127.0.0.1:api_port."""

    api_port: int

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.api_port}"

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}"


# Every port handed out in this process: the kernel may give a just-closed port again, and two
# servers of one test must never be told the same "free" port.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now and this process has not handed out before."""
    return free_port_block((0,))


def free_port_block(offsets: Iterable[int], attempts: int = 200) -> int:
    """A base port such that base + each offset is free now and was never handed out by this
    process; every one of them is handed out with it (``free_port`` never returns them).

    For servers whose ports are computed from one another (a node on STACK_API_PORT+101, a
    cluster on consecutive ports): picked separately, a computed port could be one that
    ``free_port`` gave someone else.
    """
    wanted = sorted({0, *offsets})
    for _ in range(attempts):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            base = int(s.getsockname()[1])
        ports = [base + offset for offset in wanted]
        if ports[0] < 1 or ports[-1] > 65535 or _HANDED_OUT.intersection(ports):
            continue
        if all(port == base or port_is_free(port) for port in ports):
            _HANDED_OUT.update(ports)
            return base
    raise RuntimeError(f"no free loopback ports at offsets {wanted} after {attempts} tries")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def start_logged(
    command: Sequence[str],
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session, stdout and stderr appended to ``log_path``."""
    # The child keeps its own copy of the log's file descriptor; ours closes with the block.
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            list(command),
            env=None if env is None else dict(env),
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def answers_ok(url: str) -> bool:
    """A GET of ``url`` answers 200 within a second."""
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


def start_answering(
    command: Sequence[str],
    log_path: Path,
    ready: Callable[[], bool],
    *,
    what: str,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.Popen[bytes]:
    """``start_logged``, then wait until ``ready()``. A child that exits first, or is not ready
    in ``timeout`` seconds (then stopped, with its session), raises RuntimeError naming
    ``what`` and ending with its log's last lines."""
    proc = start_logged(command, log_path, env=env, cwd=cwd)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not ready():
        if time.monotonic() > deadline:
            stop_process(proc, kill_group=True)
            tail = log_tail(log_path, 30)
            raise RuntimeError(f"{what} was not ready in {timeout:g}s:\n{tail}")
        time.sleep(0.05)
    if proc.poll() is not None:
        raise RuntimeError(f"{what} exited with {proc.returncode}:\n{log_tail(log_path, 30)}")
    return proc


def stop_process(
    proc: subprocess.Popen[bytes] | None,
    sig: int = signal.SIGTERM,
    *,
    grace: float = STOP_GRACE_SECONDS,
    kill_group: bool = False,
) -> int | None:
    """``sig``, then SIGKILL after ``grace`` seconds. Returns the exit code (None: no process).

    ``kill_group`` escalates to the whole session, for masters (nginx) whose workers would
    otherwise outlive a killed parent.
    """
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            if kill_group:
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            proc.wait()
    return proc.returncode


def kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGKILL: a crash, not a shutdown."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait()


def log_tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
