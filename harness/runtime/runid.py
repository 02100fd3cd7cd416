"""Run ids: one format for every run, report and process marker."""

from __future__ import annotations

import os
import time


def new_run_id() -> str:
    """Sortable by start time (reports/ lists in order) and unique among runs started together."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()
