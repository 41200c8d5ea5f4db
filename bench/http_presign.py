"""Part 2 — the HTTP API: ``POST /v1/uploads/presign`` (single PUT, 1 KiB) under load, with its
floor and its peer measured in the same rounds.

For each worker count (1, then 2 unless told otherwise) a fresh ``minio-stack signer serve`` is
started; a sanity round trip (presign -> PUT the bytes to MinIO with the signed headers ->
complete) proves its URLs work. Then every contender gets a short warm-up, and ``rounds``
rounds each run every contender once, in the same order, so a noisy moment hits them all:

- ``presign`` at concurrency 1, 16 and 64;
- the floor: ``GET /healthz`` at 16 on the same server (the server, Starlette and the request
  guard with no work: the ceiling for any route);
- the peer (one worker only): Uppy Companion's ``GET /s3/params`` at 16, same wrk settings,
  same MinIO (``bench.peer``).

Per run: requests/s, latency percentiles and the slowest request, errors, the measured
process tree's CPU seconds (so CPU per request) and the generator's CPU; per contender the
peak RSS. Then ``bench.breakdown`` says, in this process, where a request's CPU goes.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from bench import breakdown, loadgen, peer
from bench.monitor import PeakRss, usage
from bench.stack import Identity, SignerProcess
from bench.stats import summary
from harness.minio_server import MinioServer

PRESIGN_PATH = breakdown.PRESIGN_PATH
BODY = breakdown.BODY
SANITY_TIMEOUT = 10
FLOOR_CONNECTIONS = 16
PEER_CONNECTIONS = 16


@dataclass(frozen=True)
class HttpPlan:
    concurrencies: tuple[int, ...]
    seconds: float  # one run of one contender; each is run ``rounds`` times
    rounds: int
    warmup: float
    workers: tuple[int, ...]
    inprocess_seconds: float


def default_workers() -> int:
    from signer.settings import DEFAULT_WORKERS

    return DEFAULT_WORKERS


def worker_counts(requested: tuple[int, ...] | None) -> tuple[int, ...]:
    """1, then 2 (one per core of the 2-core reference machine) and the shipped default,
    unless the caller named the counts."""
    if requested:
        return tuple(dict.fromkeys(requested))
    return tuple(dict.fromkeys((1, 2, default_workers())))


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


def _floor_job(signer: SignerProcess, duration: float) -> loadgen.Job:
    return loadgen.Job(
        url=signer.url + "/healthz",
        body="",
        headers={},
        connections=FLOOR_CONNECTIONS,
        duration=duration,
        method="GET",
    )


@dataclass
class Contender:
    """One load the rounds repeat: what to send, which process pays for it, its runs."""

    name: str  # "presign", "floor" or "peer"
    connections: int
    job: Callable[[float], loadgen.Job]
    pid: int
    runs: list[dict[str, Any]] = field(default_factory=list)
    peak_rss: int = 0
    warmup_errors: int = 0

    def run_once(self, generator: str, seconds: float) -> None:
        with PeakRss(self.pid) as peak:
            before = usage(self.pid)
            result = loadgen.run(generator, self.job(seconds))
            spent = usage(self.pid).minus(before)
        self.peak_rss = max(self.peak_rss, peak.peak)
        self.runs.append({"load": result.to_json(), "cpu_s": spent.cpu_seconds})

    def summary(self) -> dict[str, Any]:
        runs = self.runs

        def each(pick: Callable[[dict[str, Any]], float]) -> dict[str, Any]:
            return summary([pick(r) for r in runs])

        return {
            "connections": self.connections,
            "rps": each(lambda r: r["load"]["rps"]),
            "latency_ms": {p: each(_latency(p)) for p in ("p50", "p99", "p99.9", "max")},
            "errors": sum(r["load"]["errors"] for r in runs),
            "warmup_errors": self.warmup_errors,
            "error_detail": [r["load"]["error_detail"] for r in runs if r["load"]["errors"]],
            "requests": sum(r["load"]["requests"] for r in runs),
            "signer_cpu_us_per_request": each(
                lambda r: r["cpu_s"] / max(1, r["load"]["requests"]) * 1e6
            ),
            "signer_cpu_cores": each(lambda r: r["cpu_s"] / r["load"]["duration_s"]),
            "generator_cpu_cores": each(
                lambda r: r["load"]["generator_cpu_s"] / r["load"]["duration_s"]
            ),
            "signer_peak_rss_mib": self.peak_rss / 2**20,
        }


def _latency(percentile: str) -> Callable[[dict[str, Any]], float]:
    return lambda run: float(run["load"]["latency_ms"].get(percentile, 0.0))


def measure(generator: str, contenders: list[Contender], plan: HttpPlan) -> None:
    """Warm every contender up, then ``plan.rounds`` rounds of each in turn."""
    for contender in contenders:
        contender.warmup_errors = loadgen.run(generator, contender.job(plan.warmup)).errors
    for _ in range(plan.rounds):
        for contender in contenders:
            contender.run_once(generator, plan.seconds)


def _contenders(
    signer: SignerProcess, companion: peer.CompanionProcess | None, plan: HttpPlan
) -> list[Contender]:
    found = [
        Contender("presign", c, functools.partial(_job, signer, c), signer.pid)
        for c in plan.concurrencies
    ]
    found.append(Contender("floor", FLOOR_CONNECTIONS, lambda s: _floor_job(signer, s), signer.pid))
    if companion is not None:
        found.append(
            Contender(
                "peer",
                PEER_CONNECTIONS,
                lambda s: peer.job(companion, PEER_CONNECTIONS, s),
                companion.pid,
            )
        )
    return found


def _config(
    generator: str,
    signer: SignerProcess,
    companion: peer.CompanionProcess | None,
    plan: HttpPlan,
) -> tuple[dict[str, Any], list[str]]:
    """One worker count's figures, and the problems found (errors under load)."""
    contenders = _contenders(signer, companion, plan)
    measure(generator, contenders, plan)
    levels = [c.summary() for c in contenders if c.name == "presign"]
    config: dict[str, Any] = {"workers": signer.workers, "levels": levels}
    for contender in contenders:
        if contender.name != "presign":
            config["healthz_floor" if contender.name == "floor" else "peer"] = contender.summary()
    named = [(f"presign c={lv['connections']}", lv) for lv in levels]
    named += [(key, config[key]) for key in ("healthz_floor", "peer") if key in config]
    problems = [
        f"{signer.workers} worker(s), {name}: "
        f"{figures['errors'] + figures['warmup_errors']} errors {figures['error_detail']}"
        for name, figures in named
        if figures["errors"] or figures["warmup_errors"]
    ]
    return config, problems


def run(
    plan: HttpPlan, minio: MinioServer, identity: Identity, workdir: Any, generator: str
) -> tuple[dict[str, Any], dict[str, str] | None]:
    """(results, a signer environment for in-process profiling: secrets, never printed)."""
    problems: list[str] = []
    configs = []
    inprocess_env: dict[str, str] | None = None
    peer_missing = peer.ensure_installed()
    with contextlib.ExitStack() as stack:
        companion = None
        if peer_missing is None:
            companion = stack.enter_context(peer.CompanionProcess(minio, identity, workdir))
            problems += peer.sanity(companion)
        for workers in plan.workers:
            with SignerProcess(minio, identity, workdir, workers) as signer:
                found = sanity(signer)
                problems += [f"{workers} worker(s): {p}" for p in found]
                if found:
                    continue
                config, trouble = _config(
                    generator, signer, companion if workers == 1 else None, plan
                )
                configs.append(config)
                problems += trouble
                inprocess_env = signer.env
    result: dict[str, Any] = {
        "generator": generator,
        "default_workers": default_workers(),
        "body": BODY,
        "configs": configs,
        "peer": {**peer.describe(), "missing": peer_missing},
        "problems": problems,
    }
    if inprocess_env is not None:
        result["breakdown"] = breakdown.run(inprocess_env, plan.inprocess_seconds)
    return result, inprocess_env
