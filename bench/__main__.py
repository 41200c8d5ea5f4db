"""``python -m bench``: run the benchmarks, print the table, write bench/results.json.

Exit codes: 0 every sanity check passed (targets may still be missed: the table says so);
1 a sanity check failed (errors under load, stored bytes differ, a no-op bootstrap changed
something, a part crashed); 2 bad options or a missing prerequisite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from bench import breakdown, converge, datapath, http_presign, loadgen, signing
from bench.machine import MINIO_BINARY, machine_info, versions
from bench.plans import PARTS, Plan, make_plan
from bench.report import render, write_json
from bench.stack import Identity, start_minio
from bench.targets import Target, judge
from harness.minio_server import MinioServer, free_port

DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results.json"
EPILOG = (
    "Exit codes: 0 all sanity checks passed (a missed target is shown, not an error); "
    "1 a sanity check failed or a part crashed; 2 bad options or a missing prerequisite."
)


def say(message: str) -> None:
    click.echo(f"bench: {message}", err=True)


def _workers(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        counts = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise click.BadParameter("use comma-separated counts, e.g. 1,2") from None
    if not counts or any(not 1 <= n <= 16 for n in counts):
        raise click.BadParameter("each worker count must be 1..16")
    return counts


def _notes(generator: str, plan: Plan) -> list[str]:
    notes = [
        f"{os.cpu_count()} CPUs: the load generator and MinIO run on the same machine as the "
        "signer and compete with it for CPU; the generator's own share is the 'gen cores' "
        "column (wrk runs one thread).",
        "The signer runs with SIGNER_RATE_LIMIT=1000000,1000000: the limiter runs but never "
        "refuses (the shipped 20/s per token would refuse a load test).",
        "Absolute figures move with the machine and its other load (see the load averages); "
        "the ratios, measured side by side in one run, are the comparable figures.",
    ]
    if generator == "python":
        notes.append(
            "wrk is not installed (apt-get install -y wrk): the Python asyncio generator is used "
            "instead; it needs more CPU per request, which it takes from the signer."
        )
    if plan.mode == "quick":
        notes.append("--quick: a smoke run with short rounds; use `make bench` for the figures.")
    return notes


def _guard(results: dict[str, Any], name: str, run: Callable[[], Any]) -> Any:
    """Run one part; a crash is recorded as a failed sanity check, and the others still run."""
    started = time.perf_counter()
    say(f"{name} ...")
    try:
        value = run()
    except Exception as exc:  # noqa: BLE001 - the report names it; the exit code says it
        results["problems"].append(f"{name} crashed: {type(exc).__name__}: {exc}")
        say(f"{name} crashed:\n{traceback.format_exc(limit=6)}")
        return None
    say(f"{name} done in {time.perf_counter() - started:.1f}s")
    return value


def _collect(results: dict[str, Any], name: str, value: dict[str, Any] | None) -> None:
    if value is None:
        return
    results["problems"] += [f"{name}: {p}" for p in value.get("problems", [])]
    results[name] = value


def _missed(targets: list[Target], *ids: str) -> bool:
    return any(t.id in ids and t.met is False for t in targets)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.option("--quick", is_flag=True, help="A ~30 s smoke run (short rounds, 32 MiB upload).")
@click.option(
    "--only",
    "only",
    multiple=True,
    type=click.Choice(PARTS),
    help="Run only this part (repeatable) [default: all four].",
)
@click.option(
    "--generator",
    type=click.Choice(["auto", "wrk", "python"]),
    default="auto",
    show_default=True,
    help="HTTP load generator: wrk when installed (auto), or the Python asyncio client.",
)
@click.option(
    "--workers",
    "workers_text",
    metavar="N[,N...]",
    help="Signer worker counts for the HTTP part [default: 1, then the shipped default].",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=DEFAULT_OUTPUT,
    show_default=True,
    help="Where to write the JSON results.",
)
@click.option("--no-profile", is_flag=True, help="Do not profile missed targets.")
def main(
    quick: bool,
    only: tuple[str, ...],
    generator: str,
    workers_text: str | None,
    output: Path,
    no_profile: bool,
) -> None:
    """Benchmark the signer and the data path side by side with their baselines."""
    parts = set(only or PARTS)
    try:
        generator = loadgen.available(generator)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    needs_server = bool(parts - {"signing"})
    if needs_server and not MINIO_BINARY.exists():
        click.echo(f"Error: {MINIO_BINARY} is missing: run `make minio` first", err=True)
        sys.exit(2)
    plan = make_plan(quick, http_presign.worker_counts(_workers(workers_text)))
    started = time.perf_counter()
    results: dict[str, Any] = {
        "schema": 1,
        "mode": plan.mode,
        "started_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": machine_info(),
        "versions": versions(),
        "plan": plan.to_json(),
        "parts": sorted(parts, key=PARTS.index),
        "notes": _notes(generator, plan),
        "problems": [],
        "profiles": [],
    }
    for note in results["notes"]:
        say(note)
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: minio-py must not call out
    if "signing" in parts:
        _collect(
            results,
            "signing",
            _guard(results, "signing", lambda: signing.run(plan.signing, closed)),
        )

    profiles = _with_server(results, plan, parts, needs_server, generator, closed, no_profile)
    results["profiles"] = [p.to_json() for p in profiles]
    results["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_s"] = time.perf_counter() - started
    results["ok"] = not results["problems"]
    targets = judge(results)
    write_json(results, targets, output)
    click.echo(render(results, targets))
    click.echo(f"\nresults: {output}")
    sys.exit(0 if results["ok"] else 1)


def _with_server(
    results: dict[str, Any],
    plan: Plan,
    parts: set[str],
    needs_server: bool,
    generator: str,
    closed: str,
    no_profile: bool,
) -> list[Any]:
    """The parts that need a real MinIO (bootstrap, http, datapath), then profiles of misses."""
    profiles: list[Any] = []
    with tempfile.TemporaryDirectory(prefix="minio-stack-bench-") as tmp:
        workdir = Path(tmp)
        minio = start_minio(workdir) if needs_server else None
        try:
            identity = Identity()
            env = None
            if minio is not None:
                env = _server_parts(results, plan, parts, minio, identity, workdir, generator)
            targets = judge(results)
            if not no_profile:
                profiles = _profile_misses(
                    targets, plan, results, closed, env, minio, identity, workdir
                )
        finally:
            if minio is not None:
                minio.stop()
    return profiles


def _server_parts(
    results: dict[str, Any],
    plan: Plan,
    parts: set[str],
    minio: MinioServer,
    identity: Identity,
    workdir: Path,
    generator: str,
) -> dict[str, str] | None:
    """Run bootstrap (always: the other parts need its identity), http and datapath; returns
    the signer's environment from the http part, for profiling."""
    env = None
    boot = _guard(
        results,
        "bootstrap",
        lambda: converge.run(
            plan.bootstrap if "bootstrap" in parts else converge.BootstrapPlan(1, 0),
            minio,
            identity,
            workdir,
        ),
    )
    if "bootstrap" in parts or (boot and boot.get("problems")):
        _collect(results, "bootstrap", boot)
    if "http" in parts:
        answer = _guard(
            results,
            "http",
            lambda: http_presign.run(plan.http, minio, identity, workdir, generator),
        )
        if answer is not None:
            _collect(results, "http", answer[0])
            env = answer[1]
    if "datapath" in parts:
        _collect(
            results,
            "datapath",
            _guard(
                results,
                "datapath",
                lambda: datapath.run(plan.datapath, minio, identity, workdir),
            ),
        )
    return env


def _profile_misses(
    targets: list[Target],
    plan: Plan,
    results: dict[str, Any],
    closed: str,
    env: dict[str, str] | None,
    minio: Any,
    identity: Identity,
    workdir: Path,
) -> list[Any]:
    """pyinstrument where a target was missed (profiles go to bench/profiles/)."""
    seconds = plan.profile_seconds
    found: list[Any] = []

    def attempt(name: str, run: Callable[[], list[Any]]) -> None:
        # A profile is a diagnosis, not a check: if it cannot run, say so and go on.
        say(f"profiling {name} ...")
        try:
            found.extend(run())
        except Exception as exc:  # noqa: BLE001
            results["notes"].append(f"profiling {name} failed: {type(exc).__name__}: {exc}")

    if _missed(targets, "signing_vs_minio_py", "signing_vs_hmac"):
        attempt("signing", lambda: [signing.profile(seconds, closed)])
    if env is not None and _missed(targets, "http_vs_floor_rps", "http_cpu"):
        attempt("http", lambda: breakdown.profile(env, seconds))
    if minio is not None and _missed(targets, "datapath_throughput"):
        size = plan.datapath.sizes[-1]
        attempt("datapath", lambda: datapath.profile(minio, identity, workdir, size, seconds))
    if minio is not None and _missed(targets, "bootstrap_noop"):
        attempt("bootstrap", lambda: converge.profile(minio, identity, seconds * 2))
        try:
            results["slowest_imports"] = converge.slowest_imports()
        except (OSError, subprocess.SubprocessError) as exc:
            results["notes"].append(f"import timing failed: {exc}")
    return found


if __name__ == "__main__":
    main()
