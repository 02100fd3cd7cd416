"""Time to a usable kernel, broken down by the layer that spent it.

The harness's span knows when the start was requested, when EG answered (which it does only
after the kernel's launcher reported its ports: container.py confirm_remote_startup) and when
the first execute came back; the pod's events know when the scheduler placed it, when the image
was pulled and when the container started. Put on one time line, the differences are the
layers: gateway and scheduler, image pull, container start, kernel boot to the launcher's
report, and the first execute through the channels.

Kubelet events carry whole-second timestamps (the scheduler's have microseconds), and the
cluster's clock is not the harness's: a cluster milestone up to RESOLUTION_S out of order is
clamped to its neighbour; more than that is named as clock skew and the layer left unknown,
never made up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

RESOLUTION_S = 1.0

MILESTONES = (
    "requested",
    "scheduled",
    "image_pulled",
    "container_started",
    "launcher_reported",
    "first_execute",
)
# The layer that ends at each milestone (after the first).
LAYERS = {
    "scheduled": "gateway + scheduler",
    "image_pulled": "image pull",
    "container_started": "container start",
    "launcher_reported": "kernel boot + launcher report",
    "first_execute": "channels + first execute",
}


def event_time(ev) -> datetime | None:
    """When an event first happened: eventTime (events.k8s.io, microseconds) or firstTimestamp
    (core/v1, seconds), else lastTimestamp or the object's creation."""
    for value in (ev.event_time, ev.first_timestamp, ev.last_timestamp):
        if value is not None:
            return value
    return ev.metadata.creation_timestamp if ev.metadata else None


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_GO_UNITS = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}


def pull_seconds(message: str) -> float | None:
    """The kubelet's own pull duration from a Pulled event ('Successfully pulled image "x" in
    1.5s (1.5s including waiting)'); None when the image was already present."""
    m = re.search(r"pulled image .*? in ((?:\d+(?:\.\d+)?(?:h|ms|us|µs|ns|m|s))+)", message)
    if not m:
        return None
    return round(sum(float(n) * _GO_UNITS[u] for n, u in _GO_DURATION.findall(m.group(1))), 6)


@dataclass
class Breakdown:
    """One kernel start on one time line: milestones (absolute), layers (seconds), notes."""

    label: str
    milestones: dict[str, datetime | None]
    sources: dict[str, str]
    layers: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    image_cached: bool | None = None

    @property
    def total_s(self) -> float | None:
        a, b = self.milestones.get("requested"), self.milestones.get("first_execute")
        return round((b - a).total_seconds(), 3) if a and b else None

    def row(self) -> list[Any]:
        return [
            self.label,
            *[self.layers.get(name) for name in LAYERS.values()],
            self.total_s,
            "; ".join(self.notes),
        ]


TABLE_COLUMNS = ["start", *LAYERS.values(), "total (s)", "notes"]


def _first(events: list, reason: str):
    hits = [e for e in events if e.reason == reason and event_time(e) is not None]
    return min(hits, key=event_time) if hits else None


def cluster_milestones(pod, events: list) -> tuple[dict[str, datetime | None], dict[str, str]]:
    """scheduled, image_pulled, container_started from the pod's events, else its status."""
    found: dict[str, datetime | None] = {}
    sources: dict[str, str] = {}
    scheduled = _first(events, "Scheduled")
    if scheduled is not None:
        found["scheduled"], sources["scheduled"] = event_time(scheduled), "event Scheduled"
    else:
        cond = (
            next((c for c in (pod.status.conditions or []) if c.type == "PodScheduled"), None)
            if pod is not None and pod.status
            else None
        )
        if cond is not None and cond.status == "True":
            found["scheduled"] = cond.last_transition_time
            sources["scheduled"] = "condition PodScheduled"
    pulled = _first(events, "Pulled")
    if pulled is not None:
        found["image_pulled"], sources["image_pulled"] = event_time(pulled), "event Pulled"
    started = _first(events, "Started")
    if started is not None:
        found["container_started"] = event_time(started)
        sources["container_started"] = "event Started"
    elif pod is not None and pod.status and pod.status.container_statuses:
        running = pod.status.container_statuses[0].state.running
        if running is not None and running.started_at is not None:
            found["container_started"] = running.started_at
            sources["container_started"] = "containerStatuses startedAt"
    return found, sources


def _span_time(span: dict[str, Any], phase: str) -> datetime | None:
    start = datetime.fromisoformat(span["start"])
    offset = (span.get("phases") or {}).get(phase)
    return None if offset is None else start + timedelta(seconds=offset)


def breakdown(span: dict[str, Any], pod, events: list, label: str = "") -> Breakdown:
    """Layers of one start from its span (Span.to_dict()) and its pod's events."""
    found, sources = cluster_milestones(pod, events)
    milestones: dict[str, datetime | None] = {
        "requested": _span_time(span, "requested"),
        **{m: found.get(m) for m in ("scheduled", "image_pulled", "container_started")},
        "launcher_reported": _span_time(span, "accepted"),
        "first_execute": _span_time(span, "first_execute_reply"),
    }
    sources = {
        "requested": "harness span",
        "launcher_reported": "harness span: gateway's 201 (sent once the launcher reported)",
        "first_execute": "harness span",
        **sources,
    }
    out = Breakdown(label or span.get("attrs", {}).get("kernel_id", ""), milestones, sources)
    pulled = _first(events, "Pulled")
    if pulled is not None:
        out.image_cached = "already present" in (pulled.message or "")
        if out.image_cached:
            out.notes.append("image already on the node")
        elif (secs := pull_seconds(pulled.message or "")) is not None:
            out.notes.append(f"kubelet: pull took {secs:g}s")
    missing = [m for m in MILESTONES if milestones[m] is None]
    if missing:
        out.notes.append("not seen: " + ", ".join(missing))
    _clamp(out)
    previous = None
    for m in MILESTONES:
        t = out.milestones[m]
        if m in LAYERS:
            ok = t is not None and previous is not None
            out.layers[LAYERS[m]] = round((t - previous).total_seconds(), 3) if ok else None
        if t is not None:
            previous = t
        elif m in LAYERS:
            previous = None  # the next layer would swallow this one: leave both unknown
    return out


def _clamp(out: Breakdown) -> None:
    """Whole-second cluster stamps may fall just before the harness's request or after the
    201; clamp those within RESOLUTION_S, and name anything further out as clock skew."""
    ms = out.milestones
    lo, hi = ms["requested"], ms["launcher_reported"]
    last = lo
    for m in ("scheduled", "image_pulled", "container_started"):
        t = ms[m]
        if t is None:
            continue
        floor = last or lo
        if floor is not None and t < floor:
            gap = (floor - t).total_seconds()
            if gap <= RESOLUTION_S:
                ms[m] = t = floor
            else:
                before = "requested" if floor is lo else "the milestone before"
                out.notes.append(
                    f"{m} is {gap:.1f}s before {before}: the cluster's clock and the "
                    "harness's disagree"
                )
                ms[m] = None
                continue
        if hi is not None and t > hi:
            gap = (t - hi).total_seconds()
            if gap <= RESOLUTION_S:
                ms[m] = t = hi
            else:
                out.notes.append(
                    f"{m} is {gap:.1f}s after the gateway's 201: the cluster's clock and the "
                    "harness's disagree"
                )
                ms[m] = None
                continue
        last = t


def order_problems(b: Breakdown) -> list[str]:
    """What makes a breakdown unusable as evidence: milestones the harness must always see."""
    return [
        f"{b.label}: no {m} milestone ({b.sources.get(m, 'harness span')})"
        for m in ("requested", "launcher_reported", "first_execute")
        if b.milestones.get(m) is None
    ]
