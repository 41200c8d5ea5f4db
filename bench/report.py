"""The results as a table for people, and as bench/results.json for machines."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.targets import Target

MiB = 2**20
SIGNING_LABELS = {
    "signer_signed_headers": "signer presign_url, 3 signed headers",
    "signer_host_only": "signer presign_url, host only",
    "minio_py": "minio-py presigned_put_object",
    "hmac_floor": "bare HMAC-SHA256 (floor)",
}
BREAKDOWN_LABELS = {
    "sigv4_put_3_headers": "sigv4 PUT URL (3 signed headers)",
    "sigv4_get_disposition": "sigv4 GET URL (+ content-disposition)",
    "intent_token_jwt": "intent token (ES256 JWT)",
    "object_key_ulid": "object key + ULID",
    "json_answer": "JSON answer (pydantic renders the model)",
    "use_case": "= use-case presign_upload, whole",
    "thread_hop": "run_in_threadpool hop (empty call; storage calls only)",
    "asgi_app": "= Starlette app via ASGI, whole (no HTTP)",
}


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def _spread(stat: dict[str, Any] | None, digits: int = 1, scale: float = 1.0) -> str:
    if not stat:
        return "-"
    if stat["n"] == 1:
        return "(1 run)"
    return f"{stat['min'] * scale:,.{digits}f}-{stat['max'] * scale:,.{digits}f}"


def _med(stat: dict[str, Any] | None, scale: float = 1.0) -> float | None:
    return None if not stat else stat["median"] * scale


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)
    ]

    def line(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    return [line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def _signing(part: dict[str, Any]) -> list[str]:
    rows = []
    for name, label in SIGNING_LABELS.items():
        c = part["contenders"][name]
        rows.append(
            [
                label,
                _num(_med(c["us_per_url"]), 2),
                _spread(c["us_per_url"], 2),
                _num(_med(c["urls_per_s"]), 0),
                str(c["us_per_url"]["n"]),
            ]
        )
    out = _table(["contender", "us/URL", "spread (min-max)", "URLs/s", "rounds"], rows)
    r = part["ratios"]
    out += [
        "",
        f"minio-py / signer (3 headers): {_num(_med(r['minio_py_over_signed_headers']), 2)}x "
        f"(per-round range {_spread(r['minio_py_over_signed_headers'], 2)})",
        f"minio-py / signer (host only): {_num(_med(r['minio_py_over_host_only']), 2)}x "
        f"(per-round range {_spread(r['minio_py_over_host_only'], 2)})",
        f"signer (3 headers) / HMAC floor: {_num(_med(r['signed_headers_over_hmac']), 1)}x "
        f"(per-round range {_spread(r['signed_headers_over_hmac'], 1)})",
    ]
    return out


def _http_row(label: str, lv: dict[str, Any]) -> list[str]:
    lat = lv["latency_ms"]
    return [
        label,
        _num(_med(lv["rps"]), 0),
        _spread(lv["rps"], 0),
        _num(_med(lat["p50"]), 2),
        _num(_med(lat["p99"]), 2),
        _num(_med(lat["p99.9"]), 2),
        _num(lat["max"]["max"] if "max" in lat else None, 0),
        str(lv["errors"] + lv["warmup_errors"]),
        _num(_med(lv["signer_cpu_us_per_request"]), 0),
        _num(_med(lv["signer_cpu_cores"]), 2),
        _num(_med(lv["generator_cpu_cores"]), 2),
        _num(lv["signer_peak_rss_mib"], 1),
    ]


def _two_workers(part: dict[str, Any]) -> list[str]:
    """Two workers against one, with what the 2 cores could give at all."""
    by_workers = {c["workers"]: c for c in part["configs"]}
    if 1 not in by_workers or 2 not in by_workers:
        return []
    out = []
    for one, two in zip(by_workers[1]["levels"], by_workers[2]["levels"], strict=False):
        rps1, rps2 = _med(one["rps"]) or 0.0, _med(two["rps"]) or 0.0
        cpu = _med(two["signer_cpu_us_per_request"]) or 0.0
        gen = _med(two["generator_cpu_cores"]) or 0.0
        ceiling = (2 - gen) / cpu * 1e6 if cpu else 0.0
        out.append(
            f"2 workers, c={one['connections']}: {rps2:,.0f}/s = {rps2 / rps1 if rps1 else 0:.2f}x "
            f"one worker; the signer used {_num(_med(two['signer_cpu_cores']), 2)} cores, wrk "
            f"{gen:.2f}; at {cpu:,.0f} us per request, 2 cores less wrk's allow at most "
            f"{ceiling:,.0f}/s"
        )
    return out


def _http(part: dict[str, Any]) -> list[str]:
    rows = []
    for config in part["configs"]:
        workers = config["workers"]
        for lv in config["levels"]:
            rows.append(_http_row(f"{workers}w presign c={lv['connections']}", lv))
        if config.get("healthz_floor"):
            rows.append(_http_row(f"{workers}w floor: GET /healthz c=16", config["healthz_floor"]))
        if config.get("peer"):
            rows.append(_http_row("peer: Companion /s3/params c=16", config["peer"]))
    out = [f"generator: {part['generator']}; signer default workers: {part['default_workers']}"]
    out += _table(
        [
            "run", "req/s", "spread", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors",
            "CPU us/req", "cores", "gen cores", "peak RSS MiB",
        ],
        rows,
    )  # fmt: skip
    peer = part.get("peer") or {}
    if peer.get("missing"):
        out.append(f"peer not measured: {peer['missing']}")
    elif peer:
        out.append(
            f"peer: {peer['name']} {peer['version']} ({peer['package']}), {peer['route']}; "
            f"it signs {peer['signs']}; the signer signs {peer['ours_signs']}"
        )
    out += _two_workers(part)
    cpu = (part.get("breakdown") or {}).get("cpu_us")
    if cpu:
        out += ["", "where a presign's CPU goes (in-process, CPU us per call, median):"]
        rows = [[label, _num(_med(cpu.get(name)), 1)] for name, label in BREAKDOWN_LABELS.items()]
        for config in part["configs"]:
            for lv in config["levels"]:
                if config["workers"] == 1 and lv["connections"] == 16:
                    rows.append(
                        [
                            "= over HTTP with granian (signer CPU/request, 1w c=16)",
                            _num(_med(lv["signer_cpu_us_per_request"]), 1),
                        ]
                    )
        out += _table(["layer", "CPU us"], rows)
    return out


def _datapath(part: dict[str, Any]) -> list[str]:
    rows = []
    for entry in part["sizes"].values():
        for method, m in entry["methods"].items():
            vs = "-"
            if method == "signer" and "signer_over_minio_py" in entry:
                vs = f"{_med(entry['signer_over_minio_py']):.0%}"
            elif method == "proxy" and "proxy_over_minio_py" in entry:
                vs = f"{_med(entry['proxy_over_minio_py']):.0%}"
            elif method == "minio_py":
                vs = "100%"
            rows.append(
                [
                    f"{entry['bytes'] // MiB} MiB {method}",
                    _num(_med(m["mib_per_s"]), 0),
                    _spread(m["mib_per_s"], 0),
                    vs,
                    _num(_med(m.get("client_cpu_s"), 1000), 0),
                    _num(_med(m["signer_cpu_s"], 1000), 1),
                    _num(_med(m["signer_api_bytes"]), 0),
                    _num(_med(m["proxy_cpu_s"], 1000), 1),
                    _num(_med(m["proxy_body_bytes"]), 0),
                ]
            )
    out = [f"part size {part['part_size'] // MiB} MiB, {part['parallel']} parallel parts"]
    out += _table(
        [
            "upload", "MiB/s", "spread", "vs minio-py", "client CPU ms", "signer CPU ms",
            "signer API bytes",
            "proxy CPU ms", "proxy body bytes",
        ],
        rows,
    )  # fmt: skip
    growth = part.get("growth") or {}
    if "size_big_over_small" in growth:
        out.append(
            f"object {growth['size_big_over_small']:.0f}x larger: signer CPU "
            f"x{_num(growth.get('signer_cpu_big_over_small'), 2)}, proxy CPU "
            f"x{_num(growth.get('proxy_cpu_big_over_small'), 2)}"
        )
    out += [f"note: {note}" for note in part.get("notes", [])]
    return out


def _bootstrap(part: dict[str, Any]) -> list[str]:
    rows = []
    for key, label in (
        ("fresh_cli_s", "fresh server: minio-stack bootstrap --json"),
        ("noop_cli_s", "no-op re-run: minio-stack bootstrap --json"),
        ("cli_startup_s", "  of which CLI start (minio-stack --version)"),
        ("noop_in_process_s", "no-op re-run in-process (converge only)"),
    ):
        stat = part.get(key)
        rows.append([label, _num(_med(stat), 3), _spread(stat, 3), str(stat["n"]) if stat else "-"])
    steps = part.get("noop_in_process_step_s") or {}
    for label, stat in steps.items():
        rows.append([f"  step {label}", _num(_med(stat), 3), _spread(stat, 3), str(stat["n"])])
    out = _table(["run", "seconds", "spread", "runs"], rows)
    out.append("(steps are planned together first: the first step's time includes every read)")
    return out


def _profiles(profiles: list[dict[str, Any]]) -> list[str]:
    out = []
    for p in profiles:
        out.append(f"{p['name']}: saved to {p['path']}; most self time:")
        for h in p["hotspots"][:6]:
            out.append(f"    {h['self_pct']:5.1f}%  {h['function']}  ({h['where']})")
    return out


def render(results: dict[str, Any], targets: list[Target]) -> str:
    m = results["machine"]
    out = [
        f"minio-stack benchmarks ({results['mode']}), {results['started_at']}, "
        f"{results['elapsed_s']:.0f} s",
        f"machine: {m['cpu_model']}, {m['logical_cpus']} logical CPUs, {m['memory_gib']} GiB, "
        f"Python {m['python']}; load average at start {m['load_average_at_start']}, "
        f"at end {results.get('load_average_at_end')}",
    ]
    out += [f"note: {note}" for note in results["notes"]]
    sections = (
        ("signing", "1. Signing core: presigned single-PUT URLs, in-process", _signing),
        ("http", "2. HTTP: POST /v1/uploads/presign (single PUT, 1 KiB)", _http),
        ("datapath", "3. Data path: multipart upload, signer vs minio-py vs proxy", _datapath),
        ("bootstrap", "4. Bootstrap", _bootstrap),
    )
    for key, title, render_part in sections:
        part = results.get(key)
        if not part:
            continue
        out += ["", f"== {title} =="]
        try:
            out += render_part(part)
        except (KeyError, TypeError, ValueError) as exc:
            out.append(f"(incomplete results: {type(exc).__name__}: {exc})")
    if results.get("profiles"):
        out += ["", "== Profiles of missed targets =="] + _profiles(results["profiles"])
    if results.get("slowest_imports"):
        out.append("CLI import time by package (python -X importtime, ms): " + ", ".join(
            f"{row['package']} {row['ms']:.0f}" for row in results["slowest_imports"]
        ))  # fmt: skip
    out += ["", "== Targets =="]
    out += _table(
        ["target", "measured", "verdict"],
        [[t.goal, t.measured, t.verdict] for t in targets],
    )
    out += ["", "== Sanity checks =="]
    problems = results.get("problems") or []
    out += [f"FAILED: {p}" for p in problems] or ["all passed (no errors, bytes equal, no-op idle)"]
    return "\n".join(out)


def write_json(results: dict[str, Any], targets: list[Target], path: Path) -> None:
    payload = {**results, "targets": [t.to_json() for t in targets]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n")
