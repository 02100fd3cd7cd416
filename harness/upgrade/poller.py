"""The gateway's downtime during an upgrade step, as a client polling its address sees it.

The users' probes say when each user's cell worked again; they do not say whether the gateway
itself stopped answering (a rolling update may keep the Service answering while kernels are
lost, a restart in place may not). A poller asks `GET /api` on a fresh connection every quarter
second (a kept-alive connection would stay with the old pod behind a Service), so each poll
is routed anew, and the samples become: the longest stretch without an answer, and how many
polls failed with what. `downtime` is a pure function of the samples, unit-tested apart.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import httpx

POLL_INTERVAL_S = 0.25
POLL_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Sample:
    at: float  # monotonic time the poll was sent
    ok: bool
    error: str = ""  # what a failed poll got: "HTTP 503", "connection", "timeout"


@dataclass
class Downtime:
    polls: int = 0
    failed: int = 0
    longest_s: float = 0.0  # the longest stretch from a failed poll to the next answered one
    errors: list[str] = field(default_factory=list)  # distinct kinds, in the order first seen


def downtime(samples: list[Sample]) -> Downtime:
    """Stretches without an answer: from the first failed poll of a run of failures to the
    next answered poll (or to the last poll, when none answered after it)."""
    out = Downtime(polls=len(samples))
    started: float | None = None
    for s in sorted(samples, key=lambda s: s.at):
        if not s.ok:
            out.failed += 1
            if s.error and s.error not in out.errors:
                out.errors.append(s.error)
            if started is None:
                started = s.at
        elif started is not None:
            out.longest_s = max(out.longest_s, s.at - started)
            started = None
    if started is not None:
        out.longest_s = max(out.longest_s, samples[-1].at - started if samples else 0.0)
    return out


def poll_once(url: str, token: str) -> Sample:
    at = time.monotonic()
    try:
        resp = httpx.get(
            f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=POLL_TIMEOUT_S
        )
    except httpx.TimeoutException:
        return Sample(at, False, "timeout")
    except httpx.HTTPError:
        return Sample(at, False, "connection")
    if resp.status_code != 200:
        return Sample(at, False, f"HTTP {resp.status_code}")
    return Sample(at, True)


class GatewayPoller:
    """Polls the gateway from `start()` until `stop()` (bounded by `limit_s` in any case)."""

    def __init__(self, url: str, token: str, limit_s: float = 1800.0) -> None:
        self.url, self.token, self.limit_s = url, token, limit_s
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="gateway-poller", daemon=True)

    def _loop(self) -> None:
        end = time.monotonic() + self.limit_s
        while not self._stop.is_set() and time.monotonic() < end:
            self.samples.append(poll_once(self.url, self.token))
            self._stop.wait(POLL_INTERVAL_S)  # the pace of polling, not a synchronisation

    def start(self) -> GatewayPoller:
        self._thread.start()
        return self

    def stop(self) -> Downtime:
        self._stop.set()
        self._thread.join(POLL_TIMEOUT_S + 5)
        return downtime(list(self.samples))
