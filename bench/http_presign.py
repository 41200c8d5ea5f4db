"""Part 2 — the HTTP API: ``POST /v1/uploads/presign`` (single PUT, 1 KiB) under load.

For each worker count (1, then the signer's shipped default when that differs) a fresh
``minio-stack signer serve`` is started; a sanity round trip (presign → PUT the bytes to
MinIO with the signed headers → complete) proves its URLs work; then, per concurrency, a
short warm-up and ``rounds`` measured runs. Per run: requests/s, latency percentiles, errors,
the signer's CPU seconds (so CPU per request) and the generator's CPU; per concurrency the
signer's peak RSS (the process tree: workers included).

Then ``bench.breakdown`` says, in this process, where a request's CPU goes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from bench import breakdown, loadgen
from bench.monitor import PeakRss, usage
from bench.stack import Identity, SignerProcess
from bench.stats import summary
from harness.minio_server import MinioServer

PRESIGN_PATH = breakdown.PRESIGN_PATH
BODY = breakdown.BODY
SANITY_TIMEOUT = 10


@dataclass(frozen=True)
class HttpPlan:
    concurrencies: tuple[int, ...]
    seconds: float  # measured, per concurrency, split into ``rounds`` runs
    rounds: int
    warmup: float
    workers: tuple[int, ...]
    inprocess_seconds: float
    floor_seconds: float


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


def healthz_floor(generator: str, signer: SignerProcess, seconds: float) -> dict[str, Any]:
    """GET /healthz at concurrency 16 on the same server: what uvicorn + Starlette + the
    signer's middleware cost with (almost) no work, the ceiling for any route."""
    job = loadgen.Job(
        url=signer.url + "/healthz",
        body="",
        headers={},
        connections=16,
        duration=seconds,
        method="GET",
    )
    before = usage(signer.pid)
    result = loadgen.run(generator, job)
    spent = usage(signer.pid).minus(before)
    return {
        "connections": 16,
        "rps": result.rps,
        "latency_ms": result.latency_ms,
        "errors": result.errors,
        "signer_cpu_us_per_request": spent.cpu_seconds / max(1, result.requests) * 1e6,
        "generator_cpu_cores": result.generator_cpu_s / result.duration_s,
    }


def run(
    plan: HttpPlan, minio: MinioServer, identity: Identity, workdir: Any, generator: str
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(results, a signer environment for in-process profiling: secrets, never printed)."""
    problems: list[str] = []
    configs = []
    inprocess_env: dict[str, str] | None = None
    for workers in plan.workers:
        with SignerProcess(minio, identity, workdir, workers) as signer:
            found = sanity(signer)
            problems += [f"{workers} worker(s): {p}" for p in found]
            if found:
                continue
            levels = [_level(generator, signer, c, plan) for c in plan.concurrencies]
            floor = healthz_floor(generator, signer, plan.floor_seconds)
            if floor["errors"]:
                problems.append(f"{workers} worker(s), GET /healthz: {floor['errors']} errors")
            for level in levels:
                if level["errors"] or level["warmup_errors"]:
                    problems.append(
                        f"{workers} worker(s), concurrency {level['connections']}: "
                        f"{level['errors'] + level['warmup_errors']} errors "
                        f"{level['error_detail']}"
                    )
            configs.append({"workers": workers, "levels": levels, "healthz_floor": floor})
            inprocess_env = signer.env
    result: dict[str, Any] = {
        "generator": generator,
        "default_workers": default_workers(),
        "body": BODY,
        "configs": configs,
        "problems": problems,
    }
    if inprocess_env is not None:
        result["breakdown"] = breakdown.run(inprocess_env, plan.inprocess_seconds)
    return result, inprocess_env
