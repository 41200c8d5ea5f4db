"""How long and how often each part measures: the full run (< 5 min) and ``--quick`` (~30 s)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bench.converge import BootstrapPlan
from bench.datapath import DataPlan
from bench.http_presign import HttpPlan
from bench.signing import SigningPlan

MiB = 2**20
PARTS = ("signing", "http", "datapath", "bootstrap")


@dataclass(frozen=True)
class Plan:
    mode: str
    signing: SigningPlan
    http: HttpPlan
    datapath: DataPlan
    bootstrap: BootstrapPlan
    profile_seconds: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def make_plan(quick: bool, workers: tuple[int, ...]) -> Plan:
    if quick:
        return Plan(
            mode="quick",
            signing=SigningPlan(rounds=5, round_seconds=0.08),
            http=HttpPlan(
                concurrencies=(1, 16, 64),
                seconds=2,
                rounds=1,
                warmup=1,
                workers=workers,
                inprocess_seconds=1.5,
            ),
            datapath=DataPlan(sizes=(32 * MiB, 16 * MiB), repeats=1),
            bootstrap=BootstrapPlan(fresh_runs=1, noop_runs=1),
            profile_seconds=0.5,
        )
    return Plan(
        mode="full",
        signing=SigningPlan(rounds=15, round_seconds=0.25),
        http=HttpPlan(
            concurrencies=(1, 16, 64),
            seconds=5,
            rounds=3,
            warmup=2,
            workers=workers,
            inprocess_seconds=6.0,
        ),
        datapath=DataPlan(sizes=(256 * MiB, 64 * MiB), repeats=3),
        bootstrap=BootstrapPlan(fresh_runs=3, noop_runs=5),
        profile_seconds=2.0,
    )
