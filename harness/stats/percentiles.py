"""Percentiles as the report and the benchmark compute them (one definition, so a p95 in a
bench summary and a p95 in report.html are the same figure)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolation percentile (numpy's default), so p50 of an even count is the mean
    of the middle pair rather than an arbitrary one of them."""
    if len(values) == 0:
        raise ValueError("percentile of an empty sequence")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be within 0..100, got {q!r}")
    xs = sorted(float(v) for v in values)
    rank = (len(xs) - 1) * (q / 100.0)
    lo = math.floor(rank)
    hi = math.ceil(rank)
    return xs[lo] + (xs[hi] - xs[lo]) * (rank - lo)
