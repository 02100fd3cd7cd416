"""A node cluster kept between runs: `eg-harness up --target node` brings one up and keeps it
until `eg-harness down` (or Ctrl-C); `eg-harness run --target node` finds its record and
attaches instead of building a cluster of its own.

Why: a bring-up with EG, the hub and Spark costs 80-100 s warm and teardown 10 s; a seeded
fault's twin needs one scenario on the cluster, so a bring-up per twin made the node tier the
self-tests' critical path. A run on a kept cluster applies its faults to the live install and
reverts them when it ends (target.py), and leaves the cluster as it found it.

The record (0600: it holds the gateway's and the hub's tokens, like `up`'s state file) lives
only while the process that keeps the cluster lives: a record whose owner is gone is stale and
removed (`eg-harness down` removes the cluster itself from its state record, state.py). Runs
on a kept cluster share it (a shared lock); a run with a fault takes it alone (an exclusive
lock), so no other run meets its fault; a run that cannot have the lock it needs fails at once,
naming the holder.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from pathlib import Path

import psutil
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.envs import cache_dir


def record_path() -> Path:
    return cache_dir() / "node" / "kept.json"


def write(doc: dict) -> Path:
    """The kept cluster's record, owned by this process (read by later runs)."""
    path = record_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = dict(doc, owner_pid=doc.get("owner_pid") or os.getpid())
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=2)
    tmp.replace(path)
    return path


def owner_alive(doc: dict) -> bool:
    pid = doc.get("owner_pid")
    if not pid:
        return False
    try:
        return psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE
    except (psutil.Error, ValueError):
        return False


def find() -> dict | None:
    """The live kept cluster's record, or None (a stale record is removed)."""
    path = record_path()
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if not owner_alive(doc):
        path.unlink(missing_ok=True)
        return None
    return doc


def forget(run_id: str) -> None:
    """Remove the record if it is `run_id`'s (the keeper's teardown)."""
    path = record_path()
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("run_id") == run_id:
            path.unlink(missing_ok=True)


def hold(run_id: str, *, alone: bool):
    """Hold the kept cluster for one run: shared, or `alone` (a run that seeds a fault).
    Returns the lock's open file; closing it (at the run's teardown) lets go."""
    path = record_path().with_name("kept.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = open(path, "a+")  # noqa: SIM115 - held for the run, closed at its teardown
    try:
        fcntl.flock(fh, (fcntl.LOCK_EX if alone else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise TargetUnavailable(
            "the kept node cluster is in use by another run"
            + (" (a run with a seeded fault needs it alone)" if alone else " with a seeded fault")
            + ": wait for that run to end"
        ) from None
    return fh
