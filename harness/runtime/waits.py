"""Bounded waits that say what they waited for.

Every wait in the harness goes through `wait_for`, so a hang is impossible and a timeout
names the condition, the time spent and the last thing observed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from eg_harness.errors import HarnessError

T = TypeVar("T")


class WaitTimeout(HarnessError, AssertionError):
    """A condition did not come true in time (an AssertionError so tests report it as failed)."""


def wait_for(
    what: str,
    check: Callable[[], T | None],
    timeout: float,
    *,
    interval: float = 0.05,
    max_interval: float = 1.0,
    detail: Callable[[], str] | None = None,
) -> T:
    """Poll `check` until it returns a truthy value; exceptions count as 'not yet'.

    The poll interval backs off so short waits are fast and long waits cheap.
    """
    deadline = time.monotonic() + timeout
    last: str = ""
    while True:
        try:
            value = check()
            if value:
                return value
            last = f"last value: {value!r}"
        except Exception as exc:  # noqa: BLE001 - the caller's condition decides what is transient
            last = f"last error: {type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now >= deadline:
            extra = ""
            if detail is not None:
                try:
                    extra = "; " + detail()
                except Exception as exc:  # noqa: BLE001
                    extra = f"; (could not describe state: {exc})"
            raise WaitTimeout(f"timed out after {timeout:.1f}s waiting for {what} ({last}){extra}")
        time.sleep(min(interval, max(0.0, deadline - now)))
        interval = min(interval * 1.5, max_interval)
