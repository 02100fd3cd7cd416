"""Spans as the report shows them: aggregated per name, kernelspec and hop, and durations
written for people. The percentiles themselves are eg_harness.stats'."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from eg_harness.report.model import Span
from eg_harness.stats.percentiles import percentile


def format_seconds(seconds: float | None) -> str:
    """Human scale for durations: kernel starts are seconds, API calls are milliseconds, and a
    single fixed unit makes one of the two unreadable."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = float(seconds)
    if s < 0:
        return "-" + format_seconds(-s)
    if s < 0.001:
        return "<1 ms" if s > 0 else "0 ms"
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.2f} s"
    minutes, sec = divmod(s, 60)
    if minutes < 60:
        return f"{int(minutes)}m {sec:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}h {minutes:02d}m {sec:02.0f}s"


def format_ms(seconds: float | None) -> str:
    """Milliseconds with a decimal below 100 ms: phase gaps of a few ms matter in waterfalls."""
    if seconds is None:
        return "—"
    ms = seconds * 1000
    if ms == 0:
        return "0 ms"
    return f"{ms:,.1f} ms" if abs(ms) < 100 else f"{ms:,.0f} ms"


def aggregate_spans(spans: Iterable[Span]) -> list[dict[str, Any]]:
    """Group spans per (name, kernelspec, hop) with timing percentiles of the last phase.

    Failed spans are counted but kept out of the percentiles: a start that died after 50 ms
    would otherwise look like the fastest start of the run.
    """
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for span in spans:
        key = (span.name, span.attr_text("kernelspec"), span.attr_text("hop"))
        group = groups.setdefault(key, {"totals": [], "failed": 0, "phases": {}})
        if not span.succeeded:
            group["failed"] += 1
            continue
        if not span.phases:
            continue
        group["totals"].append(span.total_s)
        for name, offset in span.phases.items():
            group["phases"].setdefault(name, []).append(offset)
    rows = []
    for (name, kernelspec, hop), group in groups.items():
        totals = group["totals"]
        rows.append(
            {
                "name": name,
                "kernelspec": kernelspec,
                "hop": hop,
                "count": len(totals),
                "failed": group["failed"],
                "p50": percentile(totals, 50) if totals else None,
                "p95": percentile(totals, 95) if totals else None,
                "max": max(totals) if totals else None,
                "phase_p50": {p: percentile(v, 50) for p, v in group["phases"].items()},
            }
        )
    return rows
