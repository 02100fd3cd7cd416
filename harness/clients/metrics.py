"""A Prometheus endpoint as the harness reads it: JupyterHub's /hub/metrics.

Parsed with prometheus_client's own parser (the exposition format has corners - escaped
labels, +Inf buckets, _created samples - that a hand parser gets wrong). A scrape becomes flat
samples keyed by (name, labels); two scrapes subtract, so a bench reports what happened during
its window and not since the hub started; a histogram's quantile is estimated from its buckets
the way PromQL's histogram_quantile does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

Key = tuple[str, tuple[tuple[str, str], ...]]  # (sample name, sorted labels)


class MetricsError(Exception):
    """The endpoint did not answer with metrics (refused token, missing scope, down)."""


def parse(text: str) -> dict[Key, float]:
    """Every sample of a Prometheus text exposition, by sample name and labels."""
    out: dict[Key, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = float(s.value)
    return out


def fetch(url: str, token: str | None, timeout: float = 5.0) -> str:
    """The exposition text (parse() it); kept as text so a report can keep the last one."""
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        r = httpx.get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise MetricsError(f"{url}: {type(exc).__name__}: {exc}") from exc
    if r.status_code != 200:
        hint = " (the token needs the read:metrics scope)" if r.status_code == 403 else ""
        raise MetricsError(f"{url} answered HTTP {r.status_code}{hint}")
    return r.text


def delta(after: dict[Key, float], before: dict[Key, float]) -> dict[Key, float]:
    """Counters and histogram samples over a window (gauges keep their last value)."""
    out = {}
    for key, value in after.items():
        name = key[0]
        if name.endswith(("_total", "_count", "_sum", "_bucket")):
            out[key] = value - before.get(key, 0.0)
        elif not name.endswith("_created"):
            out[key] = value
    return out


def value(samples: dict[Key, float], name: str, **labels: str) -> float:
    """Sum of a sample over every label set that includes `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def histograms(samples: dict[Key, float], family: str) -> list[dict[str, Any]]:
    """One entry per label set of a histogram family: count, sum, p50 and p95 (seconds)."""
    groups: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
    for (name, labels), v in samples.items():
        if not name.startswith(family):
            continue
        suffix = name[len(family) :]
        plain = tuple((k, x) for k, x in labels if k != "le")
        g = groups.setdefault(plain, {"buckets": [], "count": 0.0, "sum": 0.0})
        if suffix == "_bucket":
            le = dict(labels)["le"]
            g["buckets"].append((math.inf if le in ("+Inf", "inf") else float(le), v))
        elif suffix == "_count":
            g["count"] = v
        elif suffix == "_sum":
            g["sum"] = v
    out = []
    for labels, g in sorted(groups.items()):
        if not g["count"]:
            continue
        out.append(
            {
                "name": family,
                "labels": dict(labels),
                "count": g["count"],
                "sum": round(g["sum"], 6),
                "p50": quantile(0.5, g["buckets"]),
                "p95": quantile(0.95, g["buckets"]),
            }
        )
    return out


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float | None:
    """PromQL's histogram_quantile: linear inside the bucket the rank falls in; a rank in the
    +Inf bucket answers the highest finite bound (all Prometheus can say)."""
    bs = sorted(buckets)
    if not bs or bs[-1][1] <= 0:
        return None
    rank = q * bs[-1][1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in bs:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            share = (rank - prev_count) / (count - prev_count)
            return round(prev_bound + (bound - prev_bound) * share, 6)
        prev_bound, prev_count = bound, count
    return prev_bound
