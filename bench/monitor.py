"""What a server process (and its worker children) spent: CPU seconds, I/O bytes, peak RSS.

CPU seconds come from ``/proc/PID/task/*/schedstat`` (nanoseconds, live threads) or from the
kernel's tick counts (10 ms steps, but they keep the time of threads that have exited),
whichever is larger: the signer spends milliseconds on an upload, and ticks alone would round
that to zero or ten.

``rchar``/``wchar`` are Linux's per-process counts of bytes passed through read/write system
calls: files, pipes and sockets read or written with read()/write(). Sockets used through
recv()/send() are not in them, so ``socket_bytes`` is only a lower bound on network traffic;
the data-path section therefore also counts what the client sent to each process.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.05


@dataclass(frozen=True)
class Usage:
    cpu_seconds: float
    rss_bytes: int
    read_chars: int
    write_chars: int

    def minus(self, before: Usage) -> Usage:
        return Usage(
            self.cpu_seconds - before.cpu_seconds,
            self.rss_bytes,
            self.read_chars - before.read_chars,
            self.write_chars - before.write_chars,
        )


def _live_threads_cpu(pid: int) -> float:
    total = 0
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                total += int((task / "schedstat").read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
    except OSError:
        return 0.0
    return total / 1e9


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return [root]


def usage(pid: int) -> Usage:
    """The process tree's totals right now (a worker that just exited drops out)."""
    cpu = 0.0
    rss = read = write = 0
    for proc in _tree(pid):
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu += max(times.user + times.system, _live_threads_cpu(proc.pid))
                rss += proc.memory_info().rss
                io = proc.io_counters()
                read += getattr(io, "read_chars", io.read_bytes)
                write += getattr(io, "write_chars", io.write_bytes)
        except psutil.Error:
            continue
    return Usage(cpu, rss, read, write)


class PeakRss:
    """Samples a process tree's summed RSS in a thread (bounded by ``stop()``); ``.peak``."""

    def __init__(self, pid: int, every: float = SAMPLE_SECONDS) -> None:
        self.pid = pid
        self.every = every
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, usage(self.pid).rss_bytes)
            except psutil.Error:
                return
            self._stop.wait(self.every)

    def start(self) -> PeakRss:
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak

    def __enter__(self) -> PeakRss:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_for(predicate: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll ``predicate`` until true or ``timeout`` seconds pass; whether it became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
