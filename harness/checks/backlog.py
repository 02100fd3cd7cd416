"""Why outputs went missing: a hop that dropped them, or a consumer that fell behind.

A kernel publishes IOPub on a ZMQ PUB socket, and libzmq silently drops a PUB message for a
subscriber whose queue is full (the high-water mark: 1,000 messages by default on the sending
and on the receiving side). The gateway's SUB socket fills when the gateway process is starved
of CPU while a kernel prints as fast as it can, so on a loaded machine a correct deployment can
lose a burst of outputs. Measured on the 2-core development machine under heavy load, four
hop/protocol pairs per run: 3 of 3 runs lost outputs on one pair (139 and 1,257 in contiguous
runs, or the tail of the stream with its idle status); with the gateway's SUB receive
high-water mark lifted (an experiment, not a deployment setting), 3 of 3 runs lost none.

A hop that drops messages (a broken relay or proxy) loses them without that backlog. The
client can tell the two apart from the messages themselves: jupyter_client's Session ends every
msg_id in a per-session counter and stamps header.date when the kernel builds the message. So
for a gap in the outputs we know how many kernel messages never arrived, and how far behind
the kernel this client was when they were sent. Everything the gateway buffers sits between
the ZMQ queue and this client, so the client's backlog is an upper bound on the gateway's ZMQ
queue: below one high-water mark, the ZMQ queue cannot have overflowed and a hop lost them.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# libzmq's default ZMQ_SNDHWM / ZMQ_RCVHWM; neither ipykernel nor EG changes them.
ZMQ_DEFAULT_HWM = 1000


def counter(msg_id: str) -> tuple[str, int] | None:
    """(session prefix, counter) of a jupyter_client >= 7 msg_id "<session>_<pid>_<n>"."""
    prefix, _, tail = (msg_id or "").rpartition("_")
    if not prefix or not tail.isdigit():
        return None
    return prefix, int(tail)


def stamp(frame: dict[str, Any]) -> float | None:
    date = (frame.get("header") or {}).get("date")
    if not isinstance(date, str):
        return None
    try:
        return datetime.fromisoformat(date.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


@dataclass(frozen=True)
class Point:
    """One kernel message as the client saw it."""

    n: int  # the kernel session's message counter
    sent: float  # header.date, the kernel's wall clock
    arrived: float  # this client's wall clock


@dataclass(frozen=True)
class Gap:
    """Kernel messages that were sent between two that arrived, and never arrived themselves."""

    after: int  # counter of the last message before the gap
    lost: int  # kernel messages missing in between
    behind_s: float  # how long the last message before the gap had queued beyond the quickest
    behind_msgs: int  # messages sent before it that had not reached the client when it was sent

    @property
    def backpressure(self) -> bool:
        """The client lagged by at least a high-water mark: a ZMQ queue could have overflowed."""
        return self.behind_msgs >= ZMQ_DEFAULT_HWM

    def describe(self) -> str:
        return (
            f"{self.lost} kernel messages after #{self.after} never arrived; when they were sent "
            f"this client was {self.behind_s:.1f}s and about {self.behind_msgs} messages behind "
            "the kernel"
        )


def points(frames: list[dict[str, Any]], arrivals: dict[str, float]) -> list[Point]:
    """The frames of the busiest kernel session, in counter order, with both clocks."""
    by_session: dict[str, list[Point]] = {}
    for frame in frames:
        msg_id = (frame.get("header") or {}).get("msg_id", "")
        parsed, sent, arrived = counter(msg_id), stamp(frame), arrivals.get(msg_id)
        if parsed is None or sent is None or arrived is None:
            continue
        by_session.setdefault(parsed[0], []).append(Point(parsed[1], sent, arrived))
    if not by_session:
        return []
    busiest = max(by_session.values(), key=len)
    return sorted(busiest, key=lambda p: p.n)


def gaps(pts: list[Point], *, min_lost: int = 1) -> list[Gap]:
    """Every run of missing counters, with the backlog the lost messages were sent into.

    A PUB socket drops a message when, at the moment it is sent, the subscriber's queue is
    full. So the backlog that counts is the one at the send time of the gap (taken as the send
    time of the message just before it): how many earlier messages had not yet reached this
    client then. The quickest transit (arrived - sent) in the stream is the baseline: it
    carries the clock offset between kernel and client, so only queueing beyond it counts.
    """
    if len(pts) < 2:
        return []
    base = min(p.arrived - p.sent for p in pts)
    by_arrival = sorted(pts, key=lambda p: p.arrived)
    arrived_at = [p.arrived for p in by_arrival]
    delivered, highest = [], -1  # highest counter that had arrived, by arrival order
    for p in by_arrival:
        highest = max(highest, p.n)
        delivered.append(highest)
    out = []
    for prev, nxt in zip(pts, pts[1:]):
        lost = nxt.n - prev.n - 1
        if lost < min_lost:
            continue
        i = bisect.bisect_right(arrived_at, prev.sent + base)
        reached = delivered[i - 1] if i else pts[0].n - 1
        behind_s = max(0.0, (prev.arrived - prev.sent) - base)
        out.append(Gap(prev.n, lost, behind_s, max(0, prev.n - reached)))
    return out


def explain(frames: list[dict[str, Any]], arrivals: dict[str, float]) -> list[Gap]:
    """Gaps big enough to matter (stray counters of other clients' requests are 1 or 2)."""
    return gaps(points(frames, arrivals), min_lost=3)
