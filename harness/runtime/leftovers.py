"""What a finished run left behind: the one inventory the self-tests and `eg-harness soak` count.

Everything a run creates carries its run id: processes (in their environment, or in the argv
through the run directory), the run directory itself (`<tmp>/eg-harness-<run-id>-*`), state
files of `up` and the kind target. On a reused deployment (the existing target) the run's
traces are kernels, hub users and their servers that were not there before it, so those are
compared with a snapshot taken before the run.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from eg_harness.runtime import processes
from eg_harness.runtime.envs import cache_dir
from eg_harness.runtime.text import clip

CATEGORIES = ("processes", "ports", "dirs", "kernels", "users", "servers")


@dataclass
class Leftovers:
    processes: list[str] = field(default_factory=list)
    ports: list[str] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)  # run dirs, temp dirs, state files
    kernels: list[str] = field(default_factory=list)  # on a reused gateway
    users: list[str] = field(default_factory=list)  # on a reused hub
    servers: list[str] = field(default_factory=list)  # of those users

    def counts(self) -> dict[str, int]:
        return {c: len(getattr(self, c)) for c in CATEGORIES}

    @property
    def total(self) -> int:
        return sum(self.counts().values())

    def lines(self) -> list[str]:
        return [f"{c}: {item}" for c in CATEGORIES for item in getattr(self, c)]


def run_processes(run_id: str) -> list[psutil.Process]:
    """Live processes of a run and of stacks of its own: its id in their environment, or its
    run dir in their argv."""
    return processes.run_processes(run_id, f"eg-harness-{run_id}-", own_stacks=True)


def _describe(p: psutil.Process) -> str:
    with contextlib.suppress(psutil.Error):
        return f"{p.pid} {clip(' '.join(p.cmdline()), 120)}"
    return str(p.pid)


def _listeners() -> dict[int, int | None]:
    """Listening TCP port -> pid (None when the kernel does not say)."""
    out: dict[int, int | None] = {}
    with contextlib.suppress(psutil.Error, OSError):
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr:
                out[c.laddr.port] = c.pid
    return out


def _run_id_of(pid: int | None) -> str | None:
    if pid is None:
        return None
    with contextlib.suppress(psutil.Error, OSError):
        return psutil.Process(pid).environ().get(processes.RUN_ID_ENV)
    return None


def ports_of(endpoints: dict[str, str]) -> list[int]:
    """The ports of a run's endpoints (results.json `target.endpoints`) on this machine."""
    ports = []
    for url in endpoints.values():
        with contextlib.suppress(ValueError):
            parts = urlsplit(str(url))
            if parts.hostname in ("127.0.0.1", "localhost") and parts.port:
                ports.append(parts.port)
    return ports


def state_files(run_id: str) -> list[Path]:
    """Records a run keeps outside its run dir while it lives (`up` state, kind records)."""
    root = cache_dir()
    return [p for sub in ("up", "kind/runs") for p in (root / sub).glob(f"*{run_id}*")]


def of_run(run_id: str, *, ports: list[int] = ()) -> Leftovers:
    """What run `run_id` left on this machine. `ports` are the ports it served on (listeners on
    them that belong to another run, or to nobody's run, are another user's, not ours)."""
    left = Leftovers()
    procs = run_processes(run_id)
    left.processes = [_describe(p) for p in procs]
    ours = {p.pid for p in procs}
    for port, pid in sorted(_listeners().items()):
        if pid in ours or (port in ports and _run_id_of(pid) == run_id):
            left.ports.append(f"127.0.0.1:{port} (pid {pid})")
    tmp = Path(tempfile.gettempdir())
    left.dirs = [str(d) for d in sorted(tmp.glob(f"*{run_id}*"))]
    left.dirs += [str(p) for p in state_files(run_id)]
    return left


class Deployment:
    """A reused deployment's kernels, hub users and servers, to compare a run's before and after.

    Only what the run could have made counts: users with the harness's prefix, their servers,
    and kernels the gateway lists (which needs its EG_LIST_KERNELS)."""

    def __init__(self, gateway, hub=None, user_prefix: str = "egh-") -> None:
        self.gateway, self.hub, self.user_prefix = gateway, hub, user_prefix

    def snapshot(self) -> dict[str, set[str]]:
        snap: dict[str, set[str]] = {"kernels": set(), "users": set(), "servers": set()}
        with contextlib.suppress(Exception):
            snap["kernels"] = {k["id"] for k in self.gateway.list_kernels()}
        if self.hub is not None:
            users = self.hub.request("GET", "/users").json()
            for u in users:
                if not u["name"].startswith(self.user_prefix):
                    continue
                snap["users"].add(u["name"])
                for server in u.get("servers") or {}:
                    snap["servers"].add(f"{u['name']}/{server}")
        return snap

    def add_new(self, left: Leftovers, before: dict[str, set[str]]) -> None:
        now = self.snapshot()
        for key in ("kernels", "users", "servers"):
            getattr(left, key).extend(sorted(now[key] - before[key]))
