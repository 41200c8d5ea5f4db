"""Summaries of repeated measurements: the median and the spread around it."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from typing import Any


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty sequence."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0 <= pct <= 100:
        raise ValueError(f"percentile {pct} is outside 0..100")
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values: Sequence[float]) -> dict[str, Any]:
    """``{median, min, max, q1, q3, n, spread_pct}`` of one figure measured ``n`` times.

    ``spread_pct`` is (max - min) / median in percent: how far apart the rounds were.
    """
    if not values:
        raise ValueError("summary of no values")
    ordered = sorted(float(v) for v in values)
    median = statistics.median(ordered)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    spread = (ordered[-1] - ordered[0]) / median * 100 if median else 0.0
    return {
        "median": median,
        "min": ordered[0],
        "max": ordered[-1],
        "q1": q1,
        "q3": q3,
        "n": len(ordered),
        "spread_pct": spread,
    }


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.inf
