"""What every command shares: exit codes (from errors.py), signal handling, the suite list."""

from __future__ import annotations

import signal
import threading

from eg_harness import resources
from eg_harness.errors import (  # noqa: F401  (re-exported: the commands import them here)
    EXIT_FAILED,
    EXIT_INCONCLUSIVE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OK,
    EXIT_TARGET,
    EXIT_USAGE,
    ConfigError,
)

SCENARIOS = resources.SCENARIOS


def suites() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def sigterm_as_interrupt() -> None:
    """CI runners stop jobs with SIGTERM; treat it like Ctrl-C so teardown still runs.

    SIGINT is installed too: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored, so `eg-harness up &` would otherwise shrug off Ctrl-C and `kill -INT`.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGINT, signal.default_int_handler)


def selected_suites(spec: str) -> list[str]:
    known = suites()
    wanted = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown suite {', '.join(unknown) or '(none)'}: choose from {', '.join(known)} "
            "or 'all'"
        )
    return wanted
