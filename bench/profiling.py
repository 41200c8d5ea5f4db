"""pyinstrument profiles of a missed target: the full call tree saved to a file, and the
functions with the most self time summarised for the report."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parent / "profiles"
INTERVAL = 0.0001  # 100 µs: the code under test runs in tens of µs per call
TOP = 8


@dataclass(frozen=True)
class Hotspot:
    function: str
    where: str
    self_pct: float


@dataclass(frozen=True)
class Profile:
    name: str
    path: Path | None
    seconds: float
    calls: int
    hotspots: tuple[Hotspot, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "path": str(self.path) if self.path else None,
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
            "us_per_call_profiled": (
                round(self.seconds / self.calls * 1e6, 2) if self.calls else None
            ),
            "hotspots": [
                {"function": h.function, "where": h.where, "self_pct": round(h.self_pct, 1)}
                for h in self.hotspots
            ],
        }


def _self_times(frame: Any, into: Counter[tuple[str, str]]) -> None:
    if frame is None:
        return
    where = f"{frame.file_path_short or frame.file_path or '?'}:{frame.line_no or 0}"
    function = frame.function or "?"
    if "asyncio/runners.py" in where or "asyncio/base_events.py" in where:
        # The loop's own frame holds the time it sat in select(): waiting for the thread pool.
        function = "(event loop idle: waiting for a worker thread)"
    into[(function, where)] += frame.total_self_time
    for child in frame.children:
        if not child.is_synthetic:  # their time is already in the parent's total_self_time
            _self_times(child, into)


def profile_calls(
    name: str, call: Callable[[], object], seconds: float, *, save: bool = True, batch: int = 50
) -> Profile:
    """Call ``call`` repeatedly for about ``seconds`` under pyinstrument (at most 10 s),
    ``batch`` calls between clock checks (1 for calls that take a second)."""
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    seconds = min(seconds, 10.0)
    profiler = Profiler(interval=INTERVAL)
    calls = 0
    profiler.start()
    deadline = time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        for _ in range(batch):
            call()
        calls += batch
    elapsed = time.perf_counter() - started
    session = profiler.stop()
    return _finish(name, profiler, session, elapsed, calls, save, ConsoleRenderer)


def _finish(
    name: str, profiler: Any, session: Any, elapsed: float, calls: int, save: bool, renderer: Any
) -> Profile:
    counts: Counter[tuple[str, str]] = Counter()
    root = session.root_frame()
    _self_times(root, counts)
    total = sum(counts.values()) or 1.0
    hotspots = tuple(
        Hotspot(function, where, value / total * 100)
        for (function, where), value in counts.most_common(TOP)
    )
    path = None
    if save:
        PROFILE_DIR.mkdir(exist_ok=True)
        path = PROFILE_DIR / f"{name}.txt"
        text = profiler.output(renderer(unicode=True, color=False, show_all=False))
        path.write_text(text, encoding="utf-8")
    return Profile(name, path, elapsed, calls, hotspots)


async def profile_async_calls(
    name: str, call: Callable[[], Any], seconds: float, *, save: bool = True
) -> Profile:
    """Like ``profile_calls`` for a coroutine function, awaited one at a time."""
    from pyinstrument import Profiler
    from pyinstrument.renderers import ConsoleRenderer

    seconds = min(seconds, 10.0)
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")
    calls = 0
    profiler.start()
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        for _ in range(20):
            await call()
        calls += 20
    elapsed = time.perf_counter() - started
    session = profiler.stop()
    return _finish(name, profiler, session, elapsed, calls, save, ConsoleRenderer)
