"""Run locust headless as a subprocess against a target, and account for the CPU it all cost.

Two clocks matter: the target's CPU (local: the gateway process and its reaped children, i.e.
every kernel it started) gives the cost of one kernel start; the load generator's own CPU says
whether the numbers describe the target at all. Locust runs on one core per process (gevent),
so a generator process that kept a core busy was the bottleneck and the run is marked invalid.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from eg_harness.errors import HarnessError
from eg_harness.runtime import ports, processes
from eg_harness.targets.abilities import ProcessView
from eg_harness.targets.base import Target

GENERATOR_BUSY_LIMIT = 0.80  # cores: above this on average, a locust process was the bottleneck


@dataclass
class LoadRun:
    mode: str
    users: int
    seconds: float
    events: list[dict[str, Any]]
    wall_s: float
    exit_code: int | None
    generator: dict[str, Any]
    target_cpu_s: float | None
    out_dir: Path
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)


class _CpuWatch:
    """Samples cumulative CPU of the generator processes (wall time, cpu seconds) while they
    run, so their load can be judged over the load window only: locust's own start-up (imports,
    a second of a full core) is not load and must not invalidate a short storm."""

    def __init__(self, procs: list[subprocess.Popen]) -> None:
        self.procs = [psutil.Process(p.pid) for p in procs]
        self.series: dict[int, list[tuple[float, float]]] = {p.pid: [] for p in self.procs}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            now = time.time()
            for p in self.procs:
                with contextlib.suppress(psutil.Error):
                    t = p.cpu_times()
                    self.series[p.pid].append((now, t.user + t.system))
            if self._stop.wait(0.25):
                return

    def halt(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def stop(self, window: tuple[float, float] | None) -> dict[str, Any]:
        self.halt()
        busiest, total = 0.0, 0.0
        for samples in self.series.values():
            inside = [s for s in samples if window is None or window[0] <= s[0] <= window[1]]
            if len(inside) < 2:
                continue
            (t_a, c_a), (t_b, c_b) = inside[0], inside[-1]
            total += c_b - c_a
            busiest = max(busiest, (c_b - c_a) / max(t_b - t_a, 1e-6))
        return {
            "processes": len(self.procs),
            "cpu_s_in_window": round(total, 3),
            "busiest_process_cores": round(busiest, 3),
            "limit_cores": GENERATOR_BUSY_LIMIT,
            "valid": busiest < GENERATOR_BUSY_LIMIT,
        }


def target_cpu_seconds(target: Target) -> float | None:
    """CPU the gateway and every child it has reaped have used so far (local target only)."""
    pid = _gateway_pid(target)
    if pid is None:
        return None
    try:
        t = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return None
    return t.user + t.system + t.children_user + t.children_system


def _gateway_pid(target: Target) -> int | None:
    view = target.ability(ProcessView)
    return view.gateway_pid() if view is not None else None


def _wait_children_reaped(target: Target, baseline: int, timeout: float = 30.0) -> None:
    # Kernel CPU lands in the gateway's children_* only once EG has waited for them.
    pid = _gateway_pid(target)
    if pid is None:
        return
    deadline = time.monotonic() + timeout
    with contextlib.suppress(psutil.Error):
        gw = psutil.Process(pid)
        while len(gw.children()) > baseline and time.monotonic() < deadline:
            time.sleep(0.1)


def load_config(
    target: Target, *, mode: str, users: int, journey: str, kernelspec: str | None, events_dir: Path
) -> dict[str, Any]:
    gw = target.gateway
    conf: dict[str, Any] = {
        "mode": mode,
        "users": users,
        "journey": journey,
        "kernelspec": kernelspec,
        "events_dir": str(events_dir),
        "storm_gather_timeout": 30.0,
        "gateway": {
            "url": gw.url,
            "token": gw.token,
            "launch_timeout": gw.launch_timeout,
            "username": "eg-harness-load",
        },
    }
    if target.hub is not None:
        h = target.hub
        conf["hub"] = {
            "url": h.url,
            "api_token": h.api_token,
            "profile": h.profile,
            "user_options": h.user_options,
            "user_prefix": h.user_prefix,
            "spawn_timeout": h.spawn_timeout,
        }
    return conf


def run_locust(
    target: Target,
    out_dir: Path,
    *,
    mode: str,
    users: int,
    seconds: float,
    journey: str = "gateway",
    kernelspec: str | None = None,
    workers: int = 0,
    progress=print,
) -> LoadRun:
    """Run one bounded locust session; `seconds` bounds a churn and caps a storm."""
    if journey == "hub" and target.hub is None:
        raise HarnessError("the hub journey needs a target with a hub (add a hub: section)")
    if mode == "storm" and workers:
        raise HarnessError("a storm runs in one locust process; use workers for churn only")
    out_dir.mkdir(parents=True, exist_ok=True)
    events_dir = out_dir / "events"
    events_dir.mkdir(exist_ok=True)
    conf = load_config(
        target,
        mode=mode,
        users=users,
        journey=journey,
        kernelspec=kernelspec,
        events_dir=events_dir,
    )
    # Tokens go through a private file, never argv (process lists) or locust's own output.
    fd, conf_path = tempfile.mkstemp(prefix="eg-harness-load-", suffix=".json")
    with os.fdopen(fd, "w") as fh:
        json.dump(conf, fh)
    env = {**os.environ, "EGH_LOAD_CONFIG": conf_path}
    # Marked like the target's own processes, so a sweep after a kill -9 stops them too.
    env.update({processes.RUN_ID_ENV: target.run_id, processes.OWNER_ENV: str(os.getpid())})
    locustfile = str(Path(__file__).with_name("locustfile.py"))
    common = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        locustfile,
        "--loglevel",
        "WARNING",
        "--skip-log-setup",
    ]
    run_time = max(int(seconds), 1)
    head = [
        *common,
        "--headless",
        "-u",
        str(users),
        "-r",
        str(users),
        "-t",
        f"{run_time}s",
        "--stop-timeout",
        str(int(target.gateway.launch_timeout) + 30),
        "--csv",
        str(out_dir / "locust"),
        "--html",
        str(out_dir / "locust.html"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
    ]
    procs: list[subprocess.Popen] = []
    watch = None
    window: tuple[float, float] | None = None
    log = open(out_dir / "locust.log", "w")  # noqa: SIM115 - closed in the finally below
    port = None
    if workers:
        port = ports.free_port()
        head += [
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            str(port),
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            "60",
        ]
    cpu_before = target_cpu_seconds(target)
    baseline_children = 0
    with contextlib.suppress(Exception):
        baseline_children = len(psutil.Process(_gateway_pid(target)).children())
    t0 = time.monotonic()
    timed_out = False
    try:
        procs.append(
            subprocess.Popen(head, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=out_dir)
        )
        for _ in range(workers):
            procs.append(
                subprocess.Popen(
                    [*common, "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=out_dir,
                )
            )
        watch = _CpuWatch(procs)
        what = (
            f"{users} {journey} journeys at once"
            if mode == "storm"
            else (
                f"{users} users churning {journey} journeys for {run_time}s"
                + (f" on {workers} workers" if workers else "")
            )
        )
        progress(f"load: {what}")
        bound = run_time + target.gateway.launch_timeout + 90
        try:
            procs[0].wait(timeout=bound)
        except subprocess.TimeoutExpired:
            timed_out = True
            procs[0].terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                procs[0].wait(15)
        for p in procs[1:]:
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)
        if watch is not None:
            watch.halt()
        log.close()
        os.unlink(conf_path)
    wall = time.monotonic() - t0
    _wait_children_reaped(target, baseline_children)
    cpu_after = target_cpu_seconds(target)
    events = []
    for f in sorted(events_dir.glob("events-*.jsonl")):
        for line in f.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    if events:
        window = (min(e["start"] for e in events), max(e["start"] + e["seconds"] for e in events))
    generator = watch.stop(window)
    run = LoadRun(
        mode=mode,
        users=users,
        seconds=run_time,
        events=events,
        wall_s=round(wall, 3),
        exit_code=procs[0].returncode if procs else None,
        generator=generator,
        target_cpu_s=None
        if cpu_before is None or cpu_after is None
        else round(cpu_after - cpu_before, 3),
        out_dir=out_dir,
        timed_out=timed_out,
    )
    if timed_out:
        run.notes.append(f"locust did not finish within {bound:.0f}s and was stopped")
    if run.exit_code not in (0, None) and not timed_out:
        tail = (out_dir / "locust.log").read_text(errors="replace").strip().splitlines()[-3:]
        run.notes.append(f"locust exited {run.exit_code}: {' | '.join(tail)}")
    return run
