"""Part 2 — the HTTP API: ``POST /v1/uploads/presign`` (single PUT, 1 KiB) under load.

For each worker count (1, then the signer's shipped default when that differs) a fresh
``minio-stack signer serve`` is started; a sanity round trip (presign → PUT the bytes to
MinIO with the signed headers → complete) proves its URLs work; then, per concurrency, a
short warm-up and ``rounds`` measured runs. Per run: requests/s, latency percentiles, errors,
the signer's CPU seconds (so CPU per request) and the generator's CPU; per concurrency the
signer's peak RSS (the process tree: workers included).

Then, in this process, where a request's time goes: the use-case alone
(``SignerService.presign_upload``), and the whole Starlette app called as ASGI (routing, auth,
rate limit, body parsing, thread-pool hop, JSON answer) without HTTP. The gap between the
app and the signer's CPU per request over HTTP is uvicorn (HTTP parsing, access log, sockets).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import requests

from bench import loadgen
from bench.monitor import PeakRss, usage
from bench.profiling import Profile, profile_async_calls, profile_calls
from bench.stack import Identity, SignerProcess
from bench.stats import summary
from tests.minio_server import MinioServer

PRESIGN_PATH = "/v1/uploads/presign"
BODY = {"content_type": "image/png", "size_bytes": 1024, "filename": "bench.png"}
SANITY_TIMEOUT = 10


@dataclass(frozen=True)
class HttpPlan:
    concurrencies: tuple[int, ...]
    seconds: float  # measured, per concurrency, split into ``rounds`` runs
    rounds: int
    warmup: float
    workers: tuple[int, ...]
    inprocess_seconds: float


def default_workers() -> int:
    from signer.settings import DEFAULT_WORKERS

    return DEFAULT_WORKERS


def worker_counts(requested: tuple[int, ...] | None) -> tuple[int, ...]:
    """1, then the shipped default if it differs, unless the caller named the counts."""
    if requested:
        return tuple(dict.fromkeys(requested))
    return tuple(dict.fromkeys((1, default_workers())))


def sanity(signer: SignerProcess) -> list[str]:
    """One real upload through the signer's answer; problems found (empty when fine)."""
    auth = {"Authorization": f"Bearer {signer.token}"}
    try:
        answer = requests.post(
            signer.url + PRESIGN_PATH, json=BODY, headers=auth, timeout=SANITY_TIMEOUT
        )
        if answer.status_code != 200:
            return [f"presign answered {answer.status_code}: {answer.text[:300]}"]
        intent = answer.json()
        upload = intent["upload"]
        if intent["strategy"] != "single":
            return [f"a {BODY['size_bytes']}-byte presign chose {intent['strategy']}, not single"]
        put = requests.put(
            upload["url"], data=b"\x89PNG" + bytes(1020), headers=upload["headers"], timeout=10
        )
        if put.status_code != 200:
            return [f"MinIO refused the signer's PUT URL: {put.status_code} {put.text[:300]}"]
        done = requests.post(
            signer.url + "/v1/uploads/complete",
            json={"intent_token": intent["intent_token"]},
            headers=auth,
            timeout=SANITY_TIMEOUT,
        )
        if done.status_code != 200 or done.json().get("size_bytes") != BODY["size_bytes"]:
            return [f"complete answered {done.status_code}: {done.text[:300]}"]
    except (requests.RequestException, KeyError, ValueError) as exc:
        return [f"sanity round trip failed: {type(exc).__name__}: {exc}"]
    return []


def _job(signer: SignerProcess, connections: int, duration: float) -> loadgen.Job:
    return loadgen.Job(
        url=signer.url + PRESIGN_PATH,
        body=json.dumps(BODY),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {signer.token}"},
        connections=connections,
        duration=duration,
    )


def _level(
    generator: str, signer: SignerProcess, connections: int, plan: HttpPlan
) -> dict[str, Any]:
    warm = loadgen.run(generator, _job(signer, connections, plan.warmup))
    runs: list[dict[str, Any]] = []
    with PeakRss(signer.pid) as peak:
        for _ in range(plan.rounds):
            before = usage(signer.pid)
            result = loadgen.run(generator, _job(signer, connections, plan.seconds / plan.rounds))
            spent = usage(signer.pid).minus(before)
            runs.append({"load": result.to_json(), "signer_cpu_s": spent.cpu_seconds})

    def each(pick: Any) -> dict[str, Any]:
        return summary([pick(r) for r in runs])

    requests_total = sum(r["load"]["requests"] for r in runs)
    return {
        "connections": connections,
        "rps": each(lambda r: r["load"]["rps"]),
        "latency_ms": {
            p: each(lambda r, p=p: r["load"]["latency_ms"].get(p, 0.0))
            for p in ("p50", "p99", "p99.9")
        },
        "errors": sum(r["load"]["errors"] for r in runs),
        "warmup_errors": warm.errors,
        "error_detail": [r["load"]["error_detail"] for r in runs if r["load"]["errors"]],
        "requests": requests_total,
        "signer_cpu_us_per_request": each(
            lambda r: r["signer_cpu_s"] / max(1, r["load"]["requests"]) * 1e6
        ),
        "signer_cpu_cores": each(lambda r: r["signer_cpu_s"] / r["load"]["duration_s"]),
        "generator_cpu_cores": each(
            lambda r: r["load"]["generator_cpu_s"] / r["load"]["duration_s"]
        ),
        "signer_peak_rss_mib": peak.peak / 2**20,
    }


def run(
    plan: HttpPlan, minio: MinioServer, identity: Identity, workdir: Any, generator: str
) -> dict[str, Any]:
    problems: list[str] = []
    configs = []
    for workers in plan.workers:
        with SignerProcess(minio, identity, workdir, workers) as signer:
            found = sanity(signer)
            problems += [f"{workers} worker(s): {p}" for p in found]
            if found:
                continue
            levels = [_level(generator, signer, c, plan) for c in plan.concurrencies]
            for level in levels:
                if level["errors"] or level["warmup_errors"]:
                    problems.append(
                        f"{workers} worker(s), concurrency {level['connections']}: "
                        f"{level['errors'] + level['warmup_errors']} errors "
                        f"{level['error_detail']}"
                    )
            configs.append({"workers": workers, "levels": levels, "log": str(signer.log_path)})
            inprocess_env = signer.env
    result: dict[str, Any] = {
        "generator": generator,
        "default_workers": default_workers(),
        "body": BODY,
        "configs": configs,
        "problems": problems,
    }
    if configs:
        result["inprocess"] = inprocess(inprocess_env, plan.inprocess_seconds)
    return result


# --- in-process: where a request's time goes -------------------------------------------------


def _app_and_service(env: dict[str, str]) -> tuple[Any, Any]:
    from signer.app import create_app
    from signer.settings import load

    app = create_app(load(env))
    return app, app.state.service


def asgi_caller(app: Any, token: str) -> Any:
    """A coroutine function that sends one presign POST straight into the ASGI app."""
    body = json.dumps(BODY).encode()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PRESIGN_PATH,
        "raw_path": PRESIGN_PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"authorization", f"Bearer {token}".encode()),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8080),
    }
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    async def call() -> int:
        status.clear()
        await app(dict(scope), receive, send)
        return status[0]

    return call


def _time_sync(call: Any, seconds: float) -> float:
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            call()
        count += 20
    return (time.perf_counter() - started) / count * 1e6


async def _time_async(call: Any, seconds: float) -> tuple[float, set[int]]:
    statuses: set[int] = set()
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(20):
            statuses.add(await call())
        count += 20
    return (time.perf_counter() - started) / count * 1e6, statuses


def inprocess(env: dict[str, str], seconds: float) -> dict[str, Any]:
    """µs per presign: the use-case alone, and the whole app via ASGI (no HTTP, no sockets)."""
    from signer.models import PresignRequest

    app, service = _app_and_service(env)
    token = env["SIGNER_API_TOKENS"].split(",")[0]
    request = PresignRequest.model_validate(BODY)
    call = asgi_caller(app, token)
    rounds = 3
    use_case, whole = [], []
    statuses: set[int] = set()
    for _ in range(rounds):
        use_case.append(_time_sync(lambda: service.presign_upload(request, "bench"), seconds / 6))
        us, seen = asyncio.run(_time_async(call, seconds / 6))
        whole.append(us)
        statuses |= seen
    return {
        "use_case_us": summary(use_case),
        "asgi_app_us": summary(whole),
        "asgi_statuses": sorted(statuses),
    }


def profile(env: dict[str, str], seconds: float) -> list[Profile]:
    """pyinstrument: the use-case, and the ASGI app (its thread-pool part shows as a wait)."""
    from signer.models import PresignRequest

    app, service = _app_and_service(env)
    token = env["SIGNER_API_TOKENS"].split(",")[0]
    request = PresignRequest.model_validate(BODY)
    found = [profile_calls("http-use_case", lambda: service.presign_upload(request, "b"), seconds)]
    found.append(asyncio.run(profile_async_calls("http-asgi_app", asgi_caller(app, token), seconds)))
    return found
