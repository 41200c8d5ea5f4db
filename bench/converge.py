"""Part 4 — bootstrap: time to converge a fresh MinIO, and time for a no-op re-run.

Both as an operator runs it, ``minio-stack bootstrap --json`` in a new process (interpreter
start and imports included), and in-process (``bootstrap.converge.run`` only), with the time
of each step of an in-process no-op run, so a slow run says where its time went. Sanity: the
fresh run must succeed and a re-run must report every step unchanged.
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.stack import MINIO_STACK, ROOT, Identity, bootstrap_env, start_minio
from bench.stats import summary
from harness.minio_server import MinioServer

RUN_TIMEOUT = 120.0
_QUIET_STATUSES = {"unchanged", "skipped"}


@dataclass(frozen=True)
class BootstrapPlan:
    fresh_runs: int  # the first is the stack's own server; the rest are extra fresh servers
    noop_runs: int


def run_cli(env: dict[str, str]) -> tuple[float, dict[str, Any] | None, str]:
    """(seconds, the --json report or None, stderr tail) of one ``minio-stack bootstrap``."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(MINIO_STACK), "bootstrap", "--json"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    seconds = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except ValueError:
        report = None
    return seconds, report, done.stderr.strip()[-400:]


def changed_steps(report: dict[str, Any] | None) -> list[str]:
    if report is None:
        return ["(no JSON report)"]
    return [
        f"{s['step']}/{s['target']}: {s['status']}"
        for s in report.get("steps", [])
        if s.get("status") not in _QUIET_STATUSES
    ]


def _startup_seconds(env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        [str(MINIO_STACK), "--version"], env=env, capture_output=True, timeout=60, check=False
    )
    return time.perf_counter() - started


def _in_process(env: dict[str, str], runs: int) -> tuple[list[float], dict[str, list[float]]]:
    from bootstrap.converge import run as converge
    from bootstrap.settings import load

    settings = load(env)
    totals: list[float] = []
    steps: dict[str, list[float]] = {}
    for _ in range(runs):
        marks: list[tuple[str, float]] = []

        def mark(step: Any, marks: list[tuple[str, float]] = marks) -> None:
            marks.append((step.label, time.perf_counter()))

        started = time.perf_counter()
        converge(settings, on_step=mark)
        totals.append(time.perf_counter() - started)
        previous = started
        for label, at in marks:
            steps.setdefault(label, []).append(at - previous)
            previous = at
    return totals, steps


def run(plan: BootstrapPlan, minio: MinioServer, signer: Identity, workdir: Path) -> dict[str, Any]:
    """Converge ``minio`` (fresh) and leave it bootstrapped for the other parts."""
    problems: list[str] = []
    env = bootstrap_env(minio, signer)
    fresh: list[float] = []
    seconds, report, err = run_cli(env)
    fresh.append(seconds)
    if report is None or not report.get("ok"):
        problems.append(f"bootstrap of a fresh server failed: {err}")
        return {"problems": problems}
    for n in range(1, plan.fresh_runs):
        extra = start_minio(workdir, f"minio-fresh-{n}")
        try:
            seconds, other, err = run_cli(bootstrap_env(extra, Identity()))
            fresh.append(seconds)
            if other is None or not other.get("ok"):
                problems.append(f"bootstrap of fresh server #{n + 1} failed: {err}")
        finally:
            extra.stop()

    noop: list[float] = []
    for _ in range(plan.noop_runs):
        seconds, again, err = run_cli(env)
        noop.append(seconds)
        changed = changed_steps(again)
        if changed:
            problems.append(f"a no-op re-run changed something: {', '.join(changed)} {err}")
            break
    result: dict[str, Any] = {
        "fresh_cli_s": summary(fresh),
        "fresh_report_steps": [
            {"step": s["step"], "target": s["target"], "status": s["status"]}
            for s in report.get("steps", [])
        ],
        "problems": problems,
    }
    if noop:
        startup = [_startup_seconds(env) for _ in range(max(1, plan.noop_runs // 2))]
        in_process, per_step = _in_process(env, plan.noop_runs)
        result.update(
            noop_cli_s=summary(noop),
            cli_startup_s=summary(startup),
            noop_in_process_s=summary(in_process),
            noop_in_process_step_s={label: summary(v) for label, v in per_step.items()},
        )
    return result


def profile(minio: MinioServer, signer: Identity, seconds: float) -> list[Any]:
    """pyinstrument of in-process no-op runs, and the CLI's slowest imports."""
    from bench.profiling import profile_calls
    from bootstrap.converge import run as converge
    from bootstrap.settings import load

    settings = load(bootstrap_env(minio, signer))
    return [profile_calls("bootstrap-noop", lambda: converge(settings), seconds, batch=1)]


def slowest_imports(top: int = 8) -> list[dict[str, Any]]:
    """``python -X importtime`` of the CLI's module: import time by top-level package."""
    import sys

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import minio_stack.cli"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    by_package: dict[str, int] = {}
    for line in done.stderr.splitlines():
        fields = line.split("|")
        if not line.startswith("import time:") or len(fields) != 3 or "cumulative" in line:
            continue
        try:
            self_us = int(fields[0].split(":")[1])
        except ValueError:
            continue
        package = fields[2].strip().split(".")[0]
        by_package[package] = by_package.get(package, 0) + self_us
    total = sum(by_package.values())
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)[:top]
    return [{"package": "(all)", "ms": total / 1000}] + [
        {"package": name, "ms": us / 1000} for name, us in ranked
    ]
