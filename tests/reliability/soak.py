"""A bounded soak of the signer: presign → PUT → complete, N connections for D seconds.

    python -m tests.reliability.soak [--duration 60] [--connections 64] [--json]

Everything runs on 127.0.0.1: a fresh MinIO (``.cache/bin/minio``) with a bucket and the
signer's bucket-scoped identity, and the signer as its own process (``minio-stack signer
serve``, exactly as deployed), so its memory is measured alone. Each connection loops:
presign a 1 KiB upload, PUT it to storage with the signed headers, complete it (which checks
the stored object and records the intent). Every non-2xx answer is an error, every request
that does not answer within ``--request-timeout`` a timeout.

Prints requests, errors, timeouts, rate and the signer's RSS at start (after a warm-up) and at
the end; exits 1 if there was any error or timeout or if RSS grew by more than
``--rss-slack-mib`` plus ``--rss-slack-ratio`` of its start, 0 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import psutil

from harness.minio_server import ROOT, MinioServer
from harness.processes import answers_ok, free_port, start_answering, stop_process
from tests.signer.conftest import API_TOKEN, POLICY_YAML, environment, make_identity

MINIO_STACK = Path(sys.executable).with_name("minio-stack")
BODY = b"soak " * 204 + b"test"  # 1 KiB
MiB = 1024 * 1024


@dataclass
class Figures:
    duration_s: float
    connections: int
    iterations: int = 0
    signer_requests: int = 0
    storage_requests: int = 0
    errors: int = 0
    timeouts: int = 0
    error_samples: list[str] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)
    rss_start_mib: float = 0.0
    rss_end_mib: float = 0.0
    rss_max_mib: float = 0.0
    elapsed_s: float = 0.0

    @property
    def requests(self) -> int:
        return self.signer_requests + self.storage_requests

    @property
    def rss_growth_mib(self) -> float:
        return self.rss_end_mib - self.rss_start_mib

    def rss_flat(self, slack_mib: float, slack_ratio: float) -> bool:
        return self.rss_growth_mib <= slack_mib + slack_ratio * self.rss_start_mib

    def summary(self) -> str:
        rate = self.iterations / self.elapsed_s if self.elapsed_s else 0.0
        return (
            f"soak: {self.elapsed_s:.1f}s at {self.connections} connections: "
            f"{self.iterations} uploads ({rate:.0f}/s), {self.requests} requests "
            f"({self.signer_requests} to the signer, {self.storage_requests} to storage), "
            f"{self.errors} errors, {self.timeouts} timeouts; signer RSS "
            f"{self.rss_start_mib:.1f} MiB at start, {self.rss_end_mib:.1f} MiB at end "
            f"(max {self.rss_max_mib:.1f}, growth {self.rss_growth_mib:+.1f} MiB)"
        )


class SignerProcess:
    """``minio-stack signer serve`` on a free loopback port, with the given environment."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        keep = {k: v for k, v in os.environ.items() if not k.startswith(("SIGNER_", "MINIO_"))}
        self.env = {**keep, **env, "SIGNER_LISTEN": f"127.0.0.1:{self.port}"}
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> SignerProcess:
        self.proc = start_answering(
            [str(MINIO_STACK), "signer", "serve"],
            self.log_path,
            lambda: answers_ok(self.url + "/readyz"),
            what="the signer",
            timeout=timeout,
            env=self.env,
            cwd=ROOT,
        )
        return self

    def rss_mib(self) -> float:
        assert self.proc is not None
        return psutil.Process(self.proc.pid).memory_info().rss / MiB

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_process(proc, grace=15)


async def _worker(
    signer: httpx.AsyncClient, storage: httpx.AsyncClient, stop_at: float, figures: Figures,
    statuses: Counter,
) -> None:  # fmt: skip
    def failed(what: str, detail: str) -> None:
        figures.errors += 1
        if len(figures.error_samples) < 10:
            figures.error_samples.append(f"{what}: {detail[:200]}")

    while time.monotonic() < stop_at:
        try:
            figures.signer_requests += 1
            presign = await signer.post(
                "/v1/uploads/presign", json={"content_type": "text/plain", "size_bytes": len(BODY)}
            )
            statuses[f"presign {presign.status_code}"] += 1
            if presign.status_code != 200:
                failed("presign", f"{presign.status_code} {presign.text}")
                continue
            intent = presign.json()
            figures.storage_requests += 1
            put = await storage.put(
                intent["upload"]["url"], content=BODY, headers=intent["upload"]["headers"]
            )
            statuses[f"put {put.status_code}"] += 1
            if put.status_code != 200:
                failed("put", f"{put.status_code} {put.text}")
                continue
            figures.signer_requests += 1
            done = await signer.post(
                "/v1/uploads/complete", json={"intent_token": intent["intent_token"]}
            )
            statuses[f"complete {done.status_code}"] += 1
            if done.status_code != 200 or done.json().get("size_bytes") != len(BODY):
                failed("complete", f"{done.status_code} {done.text}")
                continue
            figures.iterations += 1
        except httpx.TimeoutException as exc:
            figures.timeouts += 1
            if len(figures.error_samples) < 10:
                figures.error_samples.append(f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            failed("transport", repr(exc))


async def _drive(
    signer_url: str, duration: float, connections: int, request_timeout: float,
    figures: Figures, sample_rss,
) -> None:  # fmt: skip
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    timeout = httpx.Timeout(request_timeout)
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    statuses: Counter = Counter()
    async with (
        httpx.AsyncClient(base_url=signer_url, headers=headers, limits=limits,
                          timeout=timeout) as signer,
        httpx.AsyncClient(limits=limits, timeout=timeout) as storage,
    ):  # fmt: skip
        stop_at = time.monotonic() + duration
        tasks = [
            asyncio.create_task(_worker(signer, storage, stop_at, figures, statuses))
            for _ in range(connections)
        ]
        while not all(t.done() for t in tasks):
            sample_rss()
            await asyncio.sleep(0.5)
        await asyncio.gather(*tasks)
    figures.statuses = dict(sorted(statuses.items()))


def run(
    duration: float = 60,
    connections: int = 64,
    *,
    warmup: float = 2.0,
    request_timeout: float = 10.0,
    workdir: Path | None = None,
) -> Figures:
    """Start MinIO and the signer, warm up, soak for ``duration`` s, stop everything."""
    base = Path(workdir or tempfile.mkdtemp(prefix="minio-stack-soak-"))
    minio = MinioServer(data_dir=base / "minio", log_path=base / "minio.log").start()
    signer: SignerProcess | None = None
    try:
        identity = make_identity(minio, "soak-" + secrets.token_hex(4))
        policy = base / "policy.yaml"
        policy.write_text(POLICY_YAML)
        env = environment(identity, policy, SIGNER_RATE_LIMIT="0", SIGNER_STORAGE_TIMEOUT="10s")
        signer = SignerProcess(env, base / "signer.log").start()

        warm = Figures(warmup, min(connections, 8))
        asyncio.run(_drive(signer.url, warmup, warm.connections, request_timeout, warm,
                           lambda: None))  # fmt: skip
        figures = Figures(duration, connections)
        figures.rss_start_mib = figures.rss_max_mib = signer.rss_mib()

        def sample() -> None:
            figures.rss_max_mib = max(figures.rss_max_mib, signer.rss_mib())

        started = time.monotonic()
        asyncio.run(_drive(signer.url, duration, connections, request_timeout, figures, sample))
        figures.elapsed_s = time.monotonic() - started
        figures.rss_end_mib = signer.rss_mib()
        figures.rss_max_mib = max(figures.rss_max_mib, figures.rss_end_mib)
        if warm.errors or warm.timeouts:
            figures.errors += warm.errors
            figures.timeouts += warm.timeouts
            figures.error_samples = warm.error_samples + figures.error_samples
        return figures
    finally:
        if signer is not None:
            signer.stop()
        minio.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=60, help="seconds of load [60]")
    parser.add_argument("--connections", type=int, default=64, help="concurrent connections [64]")
    parser.add_argument("--request-timeout", type=float, default=10, help="seconds [10]")
    parser.add_argument("--rss-slack-mib", type=float, default=16, help="allowed growth [16]")
    parser.add_argument("--rss-slack-ratio", type=float, default=0.2, help="of start [0.2]")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 3600 or not 0 < args.connections <= 1024:
        parser.error("--duration must be in (0, 3600] and --connections in (0, 1024]")
    figures = run(args.duration, args.connections, request_timeout=args.request_timeout)
    flat = figures.rss_flat(args.rss_slack_mib, args.rss_slack_ratio)
    if args.json:
        print(json.dumps({**asdict(figures), "requests": figures.requests, "rss_flat": flat}))
    else:
        print(figures.summary())
        print(f"soak: statuses {figures.statuses}")
        for sample in figures.error_samples:
            print(f"soak: {sample}", file=sys.stderr)
    if figures.errors or figures.timeouts or figures.iterations == 0:
        print("soak: FAILED: errors or timeouts (see above)", file=sys.stderr)
        return 1
    if not flat:
        print("soak: FAILED: the signer's RSS grew beyond the allowed slack", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
