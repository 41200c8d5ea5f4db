"""The issue's targets, judged from the results: each says what was measured and whether it
met its bound. A part that did not run leaves its targets "not measured", never "met"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SIGNING_VS_MINIO = 3.0
SIGNING_VS_HMAC = 10.0
# Issue 17: the presign route against its own floor (GET /healthz, same server, same run) and
# against the peer (Uppy Companion's /s3/params, same wrk settings, same run).
HTTP_CONCURRENCY = 16
TAIL_CONCURRENCY = 64
FLOOR_RPS_SHARE = 0.60
FLOOR_P99_RATIO = 2.0
TAIL_P99_OVER_P50 = 3.0
TAIL_MAX_MS = 1000.0
CPU_US_PER_PRESIGN = 150.0
PEER_RPS_RATIO = 1.5
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


def _config(results: dict[str, Any], workers: int) -> dict[str, Any] | None:
    for config in _get(results, "http", "configs") or []:
        if config["workers"] == workers:
            return dict(config)
    return None


def _med(stat: Any) -> float:
    return float(stat["median"])


HTTP_GOALS = {
    "http_vs_floor_rps": f"presign (1 worker, c={HTTP_CONCURRENCY}) >= {FLOOR_RPS_SHARE:.0%} "
    "of the floor's req/s (GET /healthz, same server, same run)",
    "http_vs_floor_p99": f"presign p99 <= {FLOOR_P99_RATIO:g}x the floor's p99",
    "http_tail": f"at c={TAIL_CONCURRENCY}: p99 <= {TAIL_P99_OVER_P50:g}x p50, "
    f"no request over {TAIL_MAX_MS / 1000:g} s",
    "http_cpu": f"CPU per presign <= {CPU_US_PER_PRESIGN:g} us (1 worker, c={HTTP_CONCURRENCY})",
    "http_vs_peer": f">= {PEER_RPS_RATIO:g}x Uppy Companion's /s3/params req/s at equal or "
    "lower p99 (same wrk settings, same MinIO)",
    "http_two_workers": "2 workers on 2 cores measured (scaling vs 1 worker)",
    "http_errors": "zero errors (every run)",
}


def _http_floor(level: dict[str, Any], floor: dict[str, Any] | None) -> list[Target]:
    if floor is None:
        return [
            Target("http_vs_floor_rps", HTTP_GOALS["http_vs_floor_rps"], "not measured", None),
            Target("http_vs_floor_p99", HTTP_GOALS["http_vs_floor_p99"], "not measured", None),
        ]
    rps, floor_rps = _med(level["rps"]), _med(floor["rps"])
    p99, floor_p99 = _med(level["latency_ms"]["p99"]), _med(floor["latency_ms"]["p99"])
    share = rps / floor_rps if floor_rps else 0.0
    ratio = p99 / floor_p99 if floor_p99 else float("inf")
    return [
        Target(
            "http_vs_floor_rps",
            HTTP_GOALS["http_vs_floor_rps"],
            f"{rps:,.0f}/s = {share:.0%} of {floor_rps:,.0f}/s",
            share >= FLOOR_RPS_SHARE,
        ),
        Target(
            "http_vs_floor_p99",
            HTTP_GOALS["http_vs_floor_p99"],
            f"{p99:.1f} ms = {ratio:.1f}x the floor's {floor_p99:.1f} ms",
            ratio <= FLOOR_P99_RATIO,
        ),
    ]


def _http_tail(level: dict[str, Any] | None) -> Target:
    if level is None:
        return Target("http_tail", HTTP_GOALS["http_tail"], "not measured", None)
    p50, p99 = _med(level["latency_ms"]["p50"]), _med(level["latency_ms"]["p99"])
    slowest = float(level["latency_ms"].get("max", {}).get("max", 0.0))
    ratio = p99 / p50 if p50 else float("inf")
    return Target(
        "http_tail",
        HTTP_GOALS["http_tail"],
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms = {ratio:.1f}x; slowest {slowest:,.0f} ms",
        ratio <= TAIL_P99_OVER_P50 and slowest <= TAIL_MAX_MS,
    )


def _http_peer(level: dict[str, Any], config: dict[str, Any]) -> Target:
    peer = config.get("peer")
    if peer is None:
        return Target("http_vs_peer", HTTP_GOALS["http_vs_peer"], "not measured", None)
    rps, peer_rps = _med(level["rps"]), _med(peer["rps"])
    p99, peer_p99 = _med(level["latency_ms"]["p99"]), _med(peer["latency_ms"]["p99"])
    ratio = rps / peer_rps if peer_rps else float("inf")
    return Target(
        "http_vs_peer",
        HTTP_GOALS["http_vs_peer"],
        f"{ratio:.1f}x ({rps:,.0f}/s vs {peer_rps:,.0f}/s); p99 {p99:.1f} vs {peer_p99:.1f} ms",
        ratio >= PEER_RPS_RATIO and p99 <= peer_p99,
    )


def _http_two_workers(results: dict[str, Any], one: dict[str, Any]) -> Target:
    two = _config(results, 2)
    level = None if two is None else _level_of(two, HTTP_CONCURRENCY)
    if level is None:
        return Target("http_two_workers", HTTP_GOALS["http_two_workers"], "not measured", None)
    rps, base = _med(level["rps"]), _med(one["rps"])
    return Target(
        "http_two_workers",
        HTTP_GOALS["http_two_workers"],
        f"{rps:,.0f}/s = {rps / base if base else 0:.2f}x one worker at c={HTTP_CONCURRENCY}",
        True,
    )


def _level_of(config: dict[str, Any], connections: int) -> dict[str, Any] | None:
    for level in config["levels"]:
        if level["connections"] == connections:
            return dict(level)
    return None


def _http(results: dict[str, Any]) -> list[Target]:
    config = _config(results, 1)
    level = None if config is None else _level_of(config, HTTP_CONCURRENCY)
    if config is None or level is None:
        return [Target(key, goal, "not measured", None) for key, goal in HTTP_GOALS.items()]
    cpu = _med(level["signer_cpu_us_per_request"])
    errors = sum(
        lv["errors"] + lv["warmup_errors"]
        for each in results["http"]["configs"]
        for lv in [*each["levels"], *(each[k] for k in ("healthz_floor", "peer") if k in each)]
    )
    return [
        *_http_floor(level, config.get("healthz_floor")),
        _http_tail(_level_of(config, TAIL_CONCURRENCY)),
        Target("http_cpu", HTTP_GOALS["http_cpu"], f"{cpu:,.0f} us", cpu <= CPU_US_PER_PRESIGN),
        _http_peer(level, config),
        _http_two_workers(results, level),
        Target("http_errors", HTTP_GOALS["http_errors"], f"{errors} errors", errors == 0),
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
