"""The comparable figures of a bench: what a baseline stores, and what the gate
(eg_harness.load.gate) and the run diff (eg_harness.report.diff) compare, level by level and
repeat by repeat.

Here rather than in load/ so that the diff, a report, reads them without reaching up into the
benchmark that produced them.
"""

from __future__ import annotations

from typing import Any


def figures(doc: dict) -> dict[str, Any]:
    """The comparable subset of a bench: what baselines store and gates compare, with each
    level's per-repeat figures when the bench was repeated (its noise)."""
    out: dict[str, Any] = {
        "storms": {},
        "valid": doc.get("valid", True),
        "repeats": doc.get("repeats", 1),
    }
    for s in doc.get("storms", []):
        out["storms"][str(s["concurrency"])] = comparable(s)
    if doc.get("churn"):
        out["churn"] = comparable(doc["churn"])
    return out


def comparable(s: dict[str, Any]) -> dict[str, Any]:
    p50 = s["time_to_first_execute_s"]["p50"]
    slow = s.get("machine_slowdown")
    out = {
        "p95_ttfe_s": s["time_to_first_execute_s"]["p95"],
        "p50_ttfe_s": p50,
        "starts_per_s": s["starts_per_s"],
        "error_rate": s["error_rate"],
        "machine_slowdown": slow,
        # The time as if the machine had been idle: the gate's figure that moves with the
        # deployment rather than with the neighbours' load.
        "p50_ttfe_adjusted_s": round(p50 / slow, 4) if p50 is not None and slow else None,
    }
    if s.get("per_repeat"):
        out["per_repeat"] = s["per_repeat"]
    return out


def samples(level: dict[str, Any], key: str) -> list[float]:
    """A level's figure repeat by repeat; a bench without repeats gives its one figure."""
    per = (level.get("per_repeat") or {}).get(key)
    if per:
        return [float(v) for v in per if v is not None]
    v = level.get(key)
    if key in ("starts_per_s", "error_rate") and v is None:
        v = 0.0
    return [] if v is None else [float(v)]
