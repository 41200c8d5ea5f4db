"""The issue's targets, judged from the results: each says what was measured and whether it
met its bound. A part that did not run leaves its targets "not measured", never "met"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SIGNING_VS_MINIO = 3.0
SIGNING_VS_HMAC = 10.0
HTTP_RPS = 5000.0
HTTP_P99_MS = 10.0
HTTP_CONCURRENCY = 16
DATAPATH_RATIO = 0.90
BOOTSTRAP_NOOP_S = 1.0


@dataclass(frozen=True)
class Target:
    id: str
    goal: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return {True: "met", False: "MISSED", None: "not measured"}[self.met]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "goal": self.goal, "measured": self.measured, "met": self.met}


def _get(results: dict[str, Any], *path: str | int) -> Any:
    node: Any = results
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def single_worker_level(results: dict[str, Any], connections: int) -> dict[str, Any] | None:
    for config in _get(results, "http", "configs") or []:
        if config["workers"] == 1:
            for level in config["levels"]:
                if level["connections"] == connections:
                    return dict(level)
    return None


def _signing(results: dict[str, Any]) -> list[Target]:
    vs_minio = _get(results, "signing", "ratios", "minio_py_over_signed_headers", "median")
    host = _get(results, "signing", "ratios", "minio_py_over_host_only", "median")
    vs_hmac = _get(results, "signing", "ratios", "signed_headers_over_hmac", "median")
    out = [
        Target(
            "signing_vs_minio_py",
            f"signing core >= {SIGNING_VS_MINIO:g}x faster per URL than minio-py",
            "not measured"
            if vs_minio is None
            else f"{vs_minio:.2f}x with 3 signed headers ({host:.2f}x host-only)",
            None if vs_minio is None else vs_minio >= SIGNING_VS_MINIO,
        ),
        Target(
            "signing_vs_hmac",
            f"signing core within {SIGNING_VS_HMAC:g}x of one bare HMAC-SHA256",
            "not measured" if vs_hmac is None else f"{vs_hmac:.1f}x the HMAC cost",
            None if vs_hmac is None else vs_hmac <= SIGNING_VS_HMAC,
        ),
    ]
    return out


def _http(results: dict[str, Any]) -> list[Target]:
    level = single_worker_level(results, HTTP_CONCURRENCY)
    if level is None:
        return [
            Target("http_rps", f">= {HTTP_RPS:,.0f} presigns/s, 1 worker", "not measured", None),
            Target("http_p99", f"p99 < {HTTP_P99_MS:g} ms", "not measured", None),
            Target("http_errors", "zero errors", "not measured", None),
        ]
    rps = level["rps"]["median"]
    p99 = level["latency_ms"]["p99"]["median"]
    errors = sum(
        lv["errors"] + lv["warmup_errors"]
        for config in results["http"]["configs"]
        for lv in config["levels"]
    )
    return [
        Target(
            "http_rps",
            f">= {HTTP_RPS:,.0f} presigns/s on one worker at concurrency {HTTP_CONCURRENCY}",
            f"{rps:,.0f}/s",
            rps >= HTTP_RPS,
        ),
        Target(
            "http_p99",
            f"p99 < {HTTP_P99_MS:g} ms at concurrency {HTTP_CONCURRENCY}, one worker",
            f"{p99:.2f} ms",
            p99 < HTTP_P99_MS,
        ),
        Target("http_errors", "zero errors (every run)", f"{errors} errors", errors == 0),
    ]


def _datapath(results: dict[str, Any]) -> list[Target]:
    sizes = _get(results, "datapath", "sizes") or {}
    first = next(iter(sizes.values()), None)
    ratio = _get(first or {}, "signer_over_minio_py", "median")
    proxy = _get(first or {}, "proxy_over_minio_py", "median")
    measured = "not measured"
    if ratio is not None:
        size = (first or {}).get("bytes", 0)
        measured = f"{ratio:.0%} of minio-py at {size // 2**20} MiB"
        if proxy is not None:
            measured += f" (proxy {proxy:.0%})"
    return [
        Target(
            "datapath_throughput",
            f"signer multipart upload >= {DATAPATH_RATIO:.0%} of minio-py direct throughput",
            measured,
            None if ratio is None else ratio >= DATAPATH_RATIO,
        )
    ]


def _bootstrap(results: dict[str, Any]) -> list[Target]:
    cli = _get(results, "bootstrap", "noop_cli_s", "median")
    inproc = _get(results, "bootstrap", "noop_in_process_s", "median")
    measured = "not measured"
    if cli is not None:
        measured = f"{cli:.2f} s as `minio-stack bootstrap` ({inproc:.2f} s converging in-process)"
    return [
        Target(
            "bootstrap_noop",
            f"a no-op bootstrap re-run < {BOOTSTRAP_NOOP_S:g} s",
            measured,
            None if cli is None else cli < BOOTSTRAP_NOOP_S,
        )
    ]


JUDGES: tuple[Callable[[dict[str, Any]], list[Target]], ...] = (
    _signing,
    _http,
    _datapath,
    _bootstrap,
)


def judge(results: dict[str, Any]) -> list[Target]:
    return [target for judge_part in JUDGES for target in judge_part(results)]
