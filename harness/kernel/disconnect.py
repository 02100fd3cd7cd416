"""Why a kernel WebSocket ended, in words an operator can act on.

"server closed the WebSocket" alone does not say where to look. What does: which hop closed it
(the URL the client connected to: the gateway, or a user server behind the hub's proxy), the
close code and reason, the size of the message in flight (a frame-size limit such as tornado's
10 MiB default drops big messages) and how long the connection had been quiet (an idle timeout
in a proxy or a missed ping drops quiet ones).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

# RFC 6455 section 7.4.1, plus the codes servers in this stack actually send.
CLOSE_CODES = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1006: "abnormal closure",
    1007: "invalid payload data",
    1008: "policy violation",
    1009: "message too big",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
}
BIG_MESSAGE = 1024 * 1024  # in flight and at least this big: suspect a frame-size limit
LONG_IDLE = 30.0  # quiet for at least this long: suspect an idle timeout
RIGHT_AFTER = 5.0  # a drop this soon after sending a big message: that message caused it


@dataclass
class InFlight:
    """A message that was moving when the connection ended."""

    direction: str  # "sending" or "receiving"
    size: int | None  # its full size in bytes, if known
    done: int | None = None  # bytes of it already moved, if known
    msg_type: str | None = None


@dataclass
class Timeline:
    """What this client saw of the connection, on its own monotonic clock: enough to say
    whether the path was alive (pings kept coming) when the connection dropped."""

    age_s: float  # since the connection opened
    pings: list[float] = field(default_factory=list)  # seconds before the drop, oldest first
    ping_interval: float | None = None  # what the server is configured to ping at, if known

    @property
    def interval(self) -> float | None:
        """The ping interval: as configured, else the median gap between pings seen."""
        if self.ping_interval:
            return self.ping_interval
        gaps = [a - b for a, b in zip(self.pings, self.pings[1:])]
        return statistics.median(gaps) if gaps else None


def infer(
    *,
    idle_s: float,
    in_flight: InFlight | None,
    last_sent: InFlight | None,
    last_sent_age_s: float | None,
    timeline: Timeline | None,
) -> str:
    """What this client's own timeline says about a drop without a close frame, and what
    usually causes a drop like it. Empty when the timeline says nothing."""
    said = []
    if (
        last_sent is not None
        and (last_sent.size or 0) >= BIG_MESSAGE
        and last_sent_age_s is not None
        and last_sent_age_s <= RIGHT_AFTER
    ):
        return (
            f"the drop came {last_sent_age_s:.1f}s after sending a {mib(last_sent.size)} "
            f"{last_sent.msg_type or 'message'}: a hop that refuses a frame that size usually "
            "drops the connection (tornado closes with 1009 only when it reads the frame "
            "itself; a proxy in front of it, or a server past its memory limit, cuts the TCP "
            "connection)"
        )
    if in_flight is not None and in_flight.direction == "receiving":
        return (
            f"it dropped part-way through receiving a {mib(in_flight.size or 0)} message: "
            "usually a frame-size limit or a buffer limit on a hop in between, or the sender "
            "exiting"
        )
    if timeline is None:
        return ""
    every = timeline.interval
    if timeline.pings:
        last_ping = timeline.pings[-1]
        cadence = f"every {_secs(every)}" if every else "once"
        if every and last_ping > 2.5 * every:
            return (
                f"the server's pings ({cadence}) stopped {last_ping:.1f}s before the drop: "
                "the far side stalled before the connection went, usually a server whose event "
                "loop was blocked or that exited, or a network path cut (a node, pod or proxy gone)"
            )
        said.append(
            f"idle for {idle_s:.1f}s while pings came {cadence} (the last {last_ping:.1f}s "
            "before the drop), so the path was alive: the server side ended the connection "
            "without closing it, usually a process exit or restart (a gateway or user server "
            "restarted, a pod evicted), or a proxy that counts only data frames as activity "
            "cutting an idle connection"
        )
    elif every and timeline.age_s > 2 * every:
        said.append(
            f"no ping arrived in the {_secs(timeline.age_s)} the connection lived though the "
            f"server pings every {_secs(every)}: pings are not reaching this client (a hop that "
            "answers them itself or has them off), so nothing keeps an idle connection alive "
            f"through an idle timeout; it was idle for {idle_s:.1f}s"
        )
    return "; ".join(said)


def _secs(x: float) -> str:
    return f"{x:.0f}s" if x >= 10 else f"{x:.1f}s"


def hop_of(url: str) -> str:
    """Which server the client spoke to: a user server's URL has JupyterHub's /user/ prefix."""
    base = url.split("?", 1)[0]
    return "the user server (through the hub's proxy)" if "/user/" in base else "the gateway"


def close_frame(data: bytes) -> tuple[int | None, str]:
    """Close code and reason from a close frame's payload (RFC 6455 5.5.1)."""
    if len(data) < 2:
        return None, ""
    return int.from_bytes(data[:2], "big"), data[2:].decode("utf-8", "replace")


def mib(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 100 * 1024 else f"{n} B"


def describe(
    url: str,
    *,
    code: int | None,
    reason: str,
    in_flight: InFlight | None,
    idle_s: float,
    received: int,
    last_sent: InFlight | None = None,
    last_sent_age_s: float | None = None,
    cause: str | None = None,
    timeline: Timeline | None = None,
) -> str:
    """One paragraph: who closed, how, what was moving, how quiet it was, where to look."""
    where = url.split("?", 1)[0]
    if code is not None:
        how = f"closed the WebSocket with code {code} ({CLOSE_CODES.get(code, 'unregistered')})"
        how += f", reason {reason!r}" if reason else ", no reason given"
    else:
        how = "dropped the connection without a close frame" + (f" ({cause})" if cause else "")
    parts = [f"{hop_of(url)} at {where} {how}"]
    if in_flight is not None:
        kind = in_flight.msg_type or "message"
        what = f"a {mib(in_flight.size)} {kind}" if in_flight.size is not None else f"a {kind}"
        moved = f" ({mib(in_flight.done)} of it moved)" if in_flight.done else ""
        parts.append(f"while {in_flight.direction} {what}{moved}")
    else:
        parts.append("with no message in flight")
    parts.append(f"{idle_s:.1f}s after the last message received ({received} received in all)")
    if last_sent is not None and last_sent is not in_flight and last_sent_age_s is not None:
        kind = last_sent.msg_type or "message"
        parts.append(f"{last_sent_age_s:.1f}s after sending a {mib(last_sent.size or 0)} {kind}")
    if code is None:
        seen = infer(
            idle_s=idle_s,
            in_flight=in_flight,
            last_sent=last_sent,
            last_sent_age_s=last_sent_age_s,
            timeline=timeline,
        )
        if seen:
            return ", ".join(parts) + ". What this client saw: " + seen
    hint = ""
    recent = last_sent_age_s is not None and last_sent_age_s <= RIGHT_AFTER
    big = any(
        f is not None and (f.size or 0) >= BIG_MESSAGE
        for f in (in_flight, last_sent if recent else None)
    )
    if code == 1009 or big:
        hint = (
            "; look for a frame-size limit on this hop (tornado's websocket_max_message_size "
            "defaults to 10 MiB; proxies have their own)"
        )
    elif idle_s >= LONG_IDLE:
        hint = "; look for an idle timeout on this hop (a proxy's, or a missed ping)"
    return ", ".join(parts) + hint
