import json

from bench.report import render, write_json
from bench.stats import summary
from bench.targets import judge


def stat(*values: float) -> dict:
    return summary(values)


def level(connections: int, rps: float, p99: float, errors: int = 0, p50: float = 1.0) -> dict:
    return {
        "connections": connections,
        "rps": stat(rps, rps * 1.1),
        "latency_ms": {
            "p50": stat(p50),
            "p99": stat(p99),
            "p99.9": stat(p99 * 2),
            "max": stat(p99 * 3, p99 * 4),
        },
        "errors": errors,
        "warmup_errors": 0,
        "error_detail": [],
        "requests": int(rps * 20),
        "signer_cpu_us_per_request": stat(150.0),
        "signer_cpu_cores": stat(0.9),
        "generator_cpu_cores": stat(0.2),
        "signer_peak_rss_mib": 80.0,
    }


def upload(mib_per_s: float, signer_cpu_s: float = 0.0) -> dict:
    return {
        "seconds": stat(1.0),
        "mib_per_s": stat(mib_per_s),
        "client_cpu_s": stat(0.1),
        "signer_cpu_s": stat(signer_cpu_s),
        "signer_api_bytes": stat(9000.0 if signer_cpu_s else 0.0),
        "proxy_cpu_s": stat(0.0),
        "proxy_body_bytes": stat(0.0),
    }


def results(**overrides: object) -> dict:
    base = {
        "mode": "quick",
        "started_at": "2026-01-01T00:00:00Z",
        "elapsed_s": 30.0,
        "machine": {
            "cpu_model": "test cpu",
            "logical_cpus": 2,
            "memory_gib": 24,
            "python": "3.11",
            "load_average_at_start": [0.1, 0.1, 0.1],
        },
        "notes": ["a note"],
        "problems": [],
        "profiles": [],
        "signing": {
            "contenders": {
                name: {"us_per_url": stat(us), "urls_per_s": stat(1e6 / us), "calls_per_round": 100}
                for name, us in (
                    ("signer_signed_headers", 20.0),
                    ("signer_host_only", 15.0),
                    ("minio_py", 70.0),
                    ("hmac_floor", 2.5),
                )
            },
            "ratios": {
                "minio_py_over_signed_headers": stat(3.5),
                "minio_py_over_host_only": stat(4.6),
                "signed_headers_over_hmac": stat(8.0),
                "host_only_over_hmac": stat(6.0),
            },
        },
        "http": {
            "generator": "wrk",
            "default_workers": 1,
            "configs": [
                {
                    "workers": 1,
                    "levels": [
                        level(1, 2000, 1.0),
                        level(16, 6000, 4.0),
                        level(64, 6100, 20.0, p50=10.0),
                    ],
                    "healthz_floor": level(16, 9000, 2.0),
                    "peer": level(16, 3000, 5.0),
                },
                {
                    "workers": 2,
                    "levels": [level(1, 2100, 1.0), level(16, 9000, 3.0), level(64, 9100, 15.0)],
                    "healthz_floor": level(16, 15000, 2.0),
                },
            ],
            "peer": {
                "name": "Uppy Companion",
                "package": "@uppy/companion",
                "version": "6.2.2",
                "route": "GET /s3/params",
                "signs": "a POST policy",
                "ours_signs": "a PUT URL",
                "missing": None,
            },
        },
        "datapath": {
            "part_size": 8 * 2**20,
            "parallel": 4,
            "sizes": {
                str(32 * 2**20): {
                    "bytes": 32 * 2**20,
                    "methods": {
                        "signer": upload(95.0, 0.01),
                        "minio_py": upload(100.0),
                        "proxy": upload(60.0),
                    },
                    "signer_over_minio_py": stat(0.95),
                    "proxy_over_minio_py": stat(0.6),
                }
            },
            "growth": {},
        },
        "bootstrap": {
            "fresh_cli_s": stat(2.0),
            "noop_cli_s": stat(1.5, 1.7),
            "cli_startup_s": stat(0.4),
            "noop_in_process_s": stat(0.9),
            "noop_in_process_step_s": {"ready[server]": stat(0.01)},
        },
    }
    base.update(overrides)
    return base


def verdicts(data: dict) -> dict:
    return {t.id: t.met for t in judge(data)}


def test_targets_are_judged_from_the_figures():
    assert verdicts(results()) == {
        "signing_vs_minio_py": True,
        "signing_vs_hmac": True,
        "http_vs_floor_rps": True,  # 6000 of 9000
        "http_vs_floor_p99": True,  # 4 ms = 2x the floor's 2 ms
        "http_tail": True,  # p99 20 ms = 2x p50; slowest 80 ms
        "http_cpu": True,  # 150 us
        "http_vs_peer": True,  # 2x Companion, p99 4 <= 5 ms
        "http_two_workers": True,
        "http_errors": True,
        "datapath_throughput": True,
        "bootstrap_noop": False,  # 1.6 s
    }


def test_a_tail_over_a_second_or_a_slower_peer_p99_misses():
    data = results()
    one = data["http"]["configs"][0]
    one["levels"][2]["latency_ms"]["max"] = stat(900.0, 1200.0)  # one round's slowest: 1.2 s
    one["peer"]["latency_ms"]["p99"] = stat(3.0)  # the peer answers faster at p99
    verdict = verdicts(data)
    assert verdict["http_tail"] is False and verdict["http_vs_peer"] is False
    del one["peer"]
    del data["http"]["configs"][1]
    verdict = verdicts(data)
    assert verdict["http_vs_peer"] is None and verdict["http_two_workers"] is None


def test_errors_under_load_miss_the_error_target():
    data = results()
    data["http"]["configs"][0]["levels"][2]["errors"] = 3
    assert verdicts(data)["http_errors"] is False


def test_parts_not_run_are_not_measured_rather_than_met():
    data = results()
    for part in ("signing", "http", "datapath", "bootstrap"):
        del data[part]
    assert set(verdicts(data).values()) == {None}
    assert all(t.verdict == "not measured" for t in judge(data))


def test_render_shows_every_section_and_verdict():
    data = results()
    text = render(data, judge(data))
    for expected in (
        "1. Signing core",
        "2. HTTP",
        "3. Data path",
        "4. Bootstrap",
        "minio-py / signer (3 headers): 3.50x",
        "1w presign c=16",
        "1w floor: GET /healthz c=16",
        "peer: Companion /s3/params c=16",
        "Uppy Companion 6.2.2",
        "2 workers, c=16: 9,450/s = 1.50x one worker",
        "32 MiB signer",
        "95%",
        "MISSED",
        "all passed",
    ):
        assert expected in text, expected


def test_render_lists_failed_sanity_checks():
    data = results(problems=["datapath: proxy: stored 1 bytes"])
    assert "FAILED: datapath: proxy: stored 1 bytes" in render(data, judge(data))


def test_json_holds_results_and_targets(tmp_path):
    data = results()
    path = tmp_path / "out" / "results.json"
    write_json(data, judge(data), path)
    loaded = json.loads(path.read_text())
    assert loaded["signing"]["ratios"]["minio_py_over_signed_headers"]["median"] == 3.5
    assert {t["id"] for t in loaded["targets"]} >= {"http_vs_peer", "bootstrap_noop"}
