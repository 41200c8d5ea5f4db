"""Closed-loop HTTP load: ``connections`` keep-alive connections, each sending the same request
again as soon as the answer is in, for ``duration`` seconds.

Two generators, both run as a child process so their CPU is measured the same way
(``getrusage`` of reaped children) and neither shares an interpreter with the harness:

- ``wrk`` (C, one thread: on 2 cores the other core is the server's) when it is installed
  (``apt-get install wrk``); a Lua ``done`` hook prints its numbers as JSON;
- ``python``: this module's lean asyncio client (raw streams, uvloop when present), used when
  wrk is missing or asked for. It needs more CPU per request than wrk.

Every answer that is not 200, and every socket error or timeout, counts as an error.

Run as ``python -m bench.loadgen`` with a JSON job on stdin (the bearer token stays out of argv).
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.stats import percentile

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH_RESULT "
READ_TIMEOUT = 5.0
EXTRA_SECONDS = 30  # a child that overruns its duration by this much is killed


@dataclass(frozen=True)
class Job:
    url: str
    body: str
    headers: dict[str, str]
    connections: int
    duration: float
    method: str = "POST"


@dataclass
class LoadResult:
    generator: str
    connections: int
    duration_s: float
    requests: int
    errors: int
    error_detail: dict[str, int] = field(default_factory=dict)
    rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    generator_cpu_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def available(choice: str) -> str:
    """The generator to use for ``choice`` (auto, wrk, python); ValueError if wrk is missing."""
    has_wrk = shutil.which("wrk") is not None
    if choice == "wrk" and not has_wrk:
        raise ValueError(
            "wrk is not installed: install it (apt-get install -y wrk) or use --generator python"
        )
    if choice == "auto":
        return "wrk" if has_wrk else "python"
    return choice


# --- wrk ------------------------------------------------------------------------------------

_WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%s{\\"requests\\":%d,\\"duration_us\\":%d,\\"connect\\":%d,\\"read\\":%d," ..
    "\\"write\\":%d,\\"status\\":%d,\\"timeout\\":%d,\\"p50\\":%d,\\"p99\\":%d," ..
    "\\"p999\\":%d,\\"max\\":%d,\\"mean\\":%f}\\n",
    "%MARK%", summary.requests, summary.duration, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
"""


def _lua_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"


def wrk_script(job: Job) -> str:
    lines = [f"wrk.method = {_lua_string(job.method)}"]
    if job.body:
        lines.append(f"wrk.body = {_lua_string(job.body)}")
    for name, value in job.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    return "\n".join(lines) + _WRK_DONE.replace("%MARK%", RESULT_MARK)


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_child(command: list[str], stdin: str | None, duration: float) -> tuple[str, float]:
    before = _children_cpu()
    done = subprocess.run(
        command,
        cwd=ROOT,  # so ``python -m bench.loadgen`` finds the package
        input=stdin,
        capture_output=True,
        text=True,
        timeout=duration + EXTRA_SECONDS,
        check=False,
    )
    cpu = _children_cpu() - before
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            return line[len(RESULT_MARK) :], cpu
    raise RuntimeError(
        f"{command[0]} printed no result (exit {done.returncode}): {done.stderr.strip()[-500:]}"
    )


def wrk_seconds(duration: float) -> int:
    """wrk takes whole seconds only."""
    return max(1, round(duration))


def run_wrk(job: Job) -> LoadResult:
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(wrk_script(job), encoding="utf-8")
        os.chmod(script, 0o600)
        command = [
            "wrk", "-t1", f"-c{job.connections}", f"-d{wrk_seconds(job.duration)}s",
            f"--timeout={READ_TIMEOUT:g}s", "-s", str(script), job.url,
        ]  # fmt: skip
        text, cpu = _run_child(command, None, job.duration)
    raw = json.loads(text)
    seconds = raw["duration_us"] / 1e6
    detail = {name: raw[name] for name in ("connect", "read", "write", "status", "timeout")}
    return LoadResult(
        generator="wrk",
        connections=job.connections,
        duration_s=seconds,
        requests=raw["requests"],
        errors=sum(detail.values()),
        error_detail={name: count for name, count in detail.items() if count},
        rps=raw["requests"] / seconds if seconds else 0.0,
        latency_ms={
            "p50": raw["p50"] / 1000,
            "p99": raw["p99"] / 1000,
            "p99.9": raw["p999"] / 1000,
            "max": raw["max"] / 1000,
            "mean": raw["mean"] / 1000,
        },
        generator_cpu_s=cpu,
    )


# --- the asyncio generator ------------------------------------------------------------------


def request_bytes(job: Job) -> tuple[str, int, bytes]:
    parts = urlsplit(job.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    body = job.body.encode("utf-8")
    head = [
        f"{job.method} {parts.path or '/'} HTTP/1.1",
        f"Host: {parts.netloc}",
        f"Content-Length: {len(body)}",
        *(f"{name}: {value}" for name, value in job.headers.items()),
    ]
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value.strip())
    raise ValueError("answer without Content-Length")


async def _connection(
    host: str,
    port: int,
    payload: bytes,
    deadline: float,
    latencies: list[float],
    errors: dict[str, int],
) -> None:
    writer = None
    while time.perf_counter() < deadline:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            started = time.perf_counter()
            writer.write(payload)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
            await asyncio.wait_for(reader.readexactly(_content_length(head)), READ_TIMEOUT)
            latencies.append(time.perf_counter() - started)
            if head[9:12] != b"200":
                errors["status"] = errors.get("status", 0) + 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            if writer is not None:
                writer.close()
            writer = None
            await asyncio.sleep(0.01)  # a refused connection must not spin
        except TimeoutError:
            errors["timeout"] = errors.get("timeout", 0) + 1
            if writer is not None:
                writer.close()
            writer = None
    if writer is not None:
        writer.close()


async def _drive(job: Job) -> dict[str, Any]:
    host, port, payload = request_bytes(job)
    latencies: list[float] = []
    errors: dict[str, int] = {}
    started = time.perf_counter()
    deadline = started + job.duration
    await asyncio.gather(
        *(
            _connection(host, port, payload, deadline, latencies, errors)
            for _ in range(job.connections)
        )
    )
    elapsed = time.perf_counter() - started
    ordered = sorted(latencies)
    ms = {}
    if ordered:
        ms = {
            "p50": percentile(ordered, 50) * 1000,
            "p99": percentile(ordered, 99) * 1000,
            "p99.9": percentile(ordered, 99.9) * 1000,
            "max": ordered[-1] * 1000,
            "mean": sum(ordered) / len(ordered) * 1000,
        }
    return {"requests": len(ordered), "seconds": elapsed, "errors": errors, "latency_ms": ms}


def run_python(job: Job) -> LoadResult:
    text, cpu = _run_child(
        [sys.executable, "-m", "bench.loadgen"], json.dumps(asdict(job)), job.duration
    )
    raw = json.loads(text)
    errors = raw["errors"]
    return LoadResult(
        generator="python-asyncio",
        connections=job.connections,
        duration_s=raw["seconds"],
        requests=raw["requests"],
        errors=sum(errors.values()),
        error_detail=errors,
        rps=raw["requests"] / raw["seconds"] if raw["seconds"] else 0.0,
        latency_ms=raw["latency_ms"],
        generator_cpu_s=cpu,
    )


def run(generator: str, job: Job) -> LoadResult:
    return run_wrk(job) if generator == "wrk" else run_python(job)


def main() -> None:
    job = Job(**json.loads(sys.stdin.read()))
    try:
        import uvloop  # the faster loop, where installed: the load generator must not be the limit

        result = uvloop.run(_drive(job))
    except ImportError:
        result = asyncio.run(_drive(job))
    print(RESULT_MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
