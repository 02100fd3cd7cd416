"""Spans: one operation's named phases on a monotonic clock.

A kernel start is `requested -> accepted -> channels_open -> kernel_info_reply ->
first_execute_reply`; EG may answer 201 while the kernel is still starting, so a kernel
counts as started only when it has answered an execute.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

KERNEL_START_PHASES = (
    "requested",
    "accepted",
    "channels_open",
    "kernel_info_reply",
    "first_execute_reply",
)


@dataclass
class Span:
    name: str
    attrs: dict[str, Any] = field(default_factory=dict)
    start_wall: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat())
    t0: float = field(default_factory=time.monotonic)
    phases: dict[str, float] = field(default_factory=dict)
    ok: bool | None = None
    error: str | None = None
    test: str | None = None

    def mark(self, phase: str) -> float:
        offset = time.monotonic() - self.t0
        self.phases[phase] = round(offset, 6)
        return offset

    def finish(self, ok: bool = True, error: str | None = None) -> Span:
        self.ok = ok
        self.error = error
        return self

    @property
    def total(self) -> float | None:
        return max(self.phases.values()) if self.phases else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "test": self.test,
            "attrs": dict(self.attrs),
            "start": self.start_wall,
            "phases": dict(self.phases),
            "ok": self.ok,
            "error": self.error,
        }


class SpanRecorder:
    """Collects finished spans from any thread; the pytest plugin labels them per test."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spans: list[Span] = []
        self.current_test: str | None = None

    def record(self, span: Span) -> Span:
        with self._lock:
            if span.test is None:
                span.test = self.current_test
            self._spans.append(span)
        return span

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)


recorder = SpanRecorder()
