"""One locust session for one planned step: config file, processes, bounded waits, events.

Locust runs as subprocesses (importing it monkey-patches the standard library with gevent,
which the harness process must never get), started and stopped by a `Supervisor` like the
target's own components: tagged with the run id (a sweep after a kill -9 finds them), logged to
files, stopped as trees, also on Ctrl-C. The journeys report each phase as a JSON line, which is
what the summary reads; locust's own CSVs and HTML stay beside them for a human.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eg_harness.load import cpu
from eg_harness.load.plan import Step
from eg_harness.runtime import ports, processes
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.base import Target

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
STORM_GATHER_TIMEOUT_S = 30.0  # a storm's users wait this long for each other to be spawned
WORKERS_CONNECT_S = 60  # --expect-workers-max-wait
FINISH_GRACE_S = 90.0  # beyond run time + launch timeout, before locust counts as hung
STOP_TIMEOUT_S = 15.0  # after SIGTERM, before a locust process tree is killed
# For workers to leave once their master has finished. Locust 2.47's master forgets a worker
# when it reports "client_stopped" (runners.py), so the quit it sends after stop() reaches no
# one and a worker lingers until its master's heartbeat has been missing 60 s. Its journeys and
# events were delivered before the master quit (stop() waits for them), so after a short grace
# the workers are stopped (SIGTERM: locust quits) instead of waited for.
WORKER_EXIT_S = 2.0


@dataclass
class LoadRun:
    """What one step's locust session produced, raw: the summary turns it into figures."""

    step: Step
    events: list[dict[str, Any]]
    wall_s: float
    exit_code: int | None
    generator: dict[str, Any]
    target_cpu_s: float | None
    out_dir: Path
    target_cpu_by_group: dict[str, float] | None = None
    timed_out: bool = False
    notes: list[str] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=dict)  # cpu.ContentionProbe's verdict


def run(target: Target, step: Step, out_dir: Path, progress=print) -> LoadRun:
    """Run one bounded locust session for `step`; its files go to `out_dir`."""
    events_dir = out_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    supervisor = processes.Supervisor(target.run_id, out_dir)
    target_cpu = cpu.TargetCpu(target)
    bound = step.run_seconds + target.gateway.launch_timeout + FINISH_GRACE_S
    watch = None
    probe = cpu.ContentionProbe()
    t0 = time.monotonic()
    with _config_file(load_config(target, step, events_dir)) as conf_path:
        try:
            master, workers = _start(supervisor, step, target, conf_path, out_dir)
            watch = cpu.GeneratorWatch([master.pid, *(w.pid for w in workers)])
            progress(f"load: {step.describe()}")
            timed_out = not _exits_within(master, bound)
            for w in workers:
                _exits_within(w, WORKER_EXIT_S)
        finally:
            _stop(supervisor)
            if watch is not None:
                watch.halt()
            probe.halt()
    wall = time.monotonic() - t0
    events = read_events(events_dir)
    result = LoadRun(
        step=step,
        events=events,
        wall_s=round(wall, 3),
        exit_code=master.popen.returncode,
        generator=watch.judge(event_window(events)),
        target_cpu_s=target_cpu.spent(),
        target_cpu_by_group=target_cpu.by_group,
        out_dir=out_dir,
        timed_out=timed_out,
        machine=probe.judge(event_window(events)),
    )
    if timed_out:
        result.notes.append(f"locust did not finish within {bound:.0f}s and was stopped")
    elif result.exit_code not in (0, None):
        tail = master.tail(3).replace("\n", " | ")
        result.notes.append(f"locust exited {result.exit_code}: {tail}")
    return result


def load_config(target: Target, step: Step, events_dir: Path) -> dict[str, Any]:
    """What locustfile.py reads (EGH_LOAD_CONFIG): the step, the endpoints and their tokens."""
    gw = target.gateway
    conf: dict[str, Any] = {
        "mode": step.mode,
        "users": step.users,
        "run_seconds": step.run_seconds,
        "journey": step.journey,
        "kernelspec": step.kernelspec,
        "events_dir": str(events_dir),
        "storm_gather_timeout": STORM_GATHER_TIMEOUT_S,
        "workload": step.workload,
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


@contextlib.contextmanager
def _config_file(conf: dict[str, Any]) -> Iterator[str]:
    # Tokens go through a private file, never argv (process lists) or locust's own output.
    fd, path = tempfile.mkstemp(prefix="eg-harness-load-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(conf, fh)
        yield path
    finally:
        os.unlink(path)


def locust_argv(step: Step, out_dir: Path, launch_timeout: float, master_port: int | None):
    """argv of the process that runs the step (local runner, or master when it has workers)."""
    # With workers, the locustfile bounds the run itself (stop, wait for the workers' journeys
    # and their events, then quit): locust's own -t would quit with journeys in flight.
    run_time = () if step.workers else ("-t", f"{step.run_seconds}s")
    argv = [
        *_common_argv(),
        "--headless",
        *("-u", str(step.users), "-r", f"{step.spawn_rate or step.users:g}", *run_time),
        *("--stop-timeout", str(int(launch_timeout) + 30)),
        *("--csv", str(out_dir / "locust"), "--html", str(out_dir / "locust.html")),
        "--only-summary",
        *("--exit-code-on-error", "0"),
    ]
    if step.workers:
        # External workers come from other pods or machines, so the master listens on them.
        bind = "0.0.0.0" if step.external_workers else "127.0.0.1"
        argv += [
            "--master",
            *("--master-bind-host", bind, "--master-bind-port", str(master_port)),
            *("--expect-workers", str(step.workers)),
            *("--expect-workers-max-wait", str(WORKERS_CONNECT_S)),
        ]
    return argv


def worker_argv(master_port: int, master_host: str = "127.0.0.1") -> list[str]:
    return [
        *_common_argv(),
        "--worker",
        *("--master-host", master_host, "--master-port", str(master_port)),
    ]


def _common_argv() -> list[str]:
    return [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)),
        *("--loglevel", "WARNING", "--skip-log-setup"),
    ]


def _start(supervisor, step: Step, target: Target, conf_path: str, out_dir: Path):
    env = {**os.environ, "EGH_LOAD_CONFIG": conf_path}
    port = (step.master_port or ports.free_port()) if step.workers else None
    argv = locust_argv(step, out_dir, target.gateway.launch_timeout, port)
    master = supervisor.start("locust", argv, env=env, cwd=out_dir)
    if step.external_workers:
        return master, []  # they connect from elsewhere (clusters/incluster/locust-workers.yaml)
    workers = [
        supervisor.start(f"locust-worker-{i}", worker_argv(port), env=env, cwd=out_dir)
        for i in range(1, step.workers + 1)
    ]
    return master, workers


def worker_config(target: Target, journey: str, kernelspec: str | None) -> dict[str, Any]:
    """What an external worker's locustfile reads: the target's endpoints for a churn. Its
    events go to the master over locust's own messages, so its events_dir stays empty."""
    step = Step("churn", 1, 1, journey, kernelspec or target.gateway.kernelspec)
    return load_config(target, step, Path(tempfile.mkdtemp(prefix="eg-harness-worker-")))


def run_worker(
    target: Target, master_host: str, master_port: int, journey: str, kernelspec: str | None
) -> int:
    """Run one external locust worker in the foreground until its master tells it to quit;
    its exit status. The config (tokens) lives in a private file removed afterwards."""
    conf = worker_config(target, journey, kernelspec)
    with _config_file(conf) as conf_path:
        env = {**os.environ, "EGH_LOAD_CONFIG": conf_path}
        proc = subprocess.Popen(worker_argv(master_port, master_host), env=env)
        try:
            return proc.wait()
        except KeyboardInterrupt:  # SIGTERM of the pod: stop the worker, then leave
            proc.terminate()
            try:
                return proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                return proc.wait()
        finally:
            shutil.rmtree(conf["events_dir"], ignore_errors=True)


def _exits_within(proc: processes.ManagedProcess, timeout: float) -> bool:
    try:
        wait_for(f"{proc.name} to exit", lambda: not proc.alive(), timeout, max_interval=0.2)
    except WaitTimeout:
        return False
    return True


def _stop(supervisor: processes.Supervisor) -> None:
    """Stop what this run started (workers first), even on a second Ctrl-C.

    Not `stop_all`: its sweep would also stop the target, whose processes carry the same run id.
    """
    with processes.signals_deferred():
        for proc in reversed(supervisor.procs):
            supervisor.stop(proc, timeout=STOP_TIMEOUT_S)


def read_events(events_dir: Path) -> list[dict[str, Any]]:
    """Every phase event of the run: one events-<producer>.jsonl per locust process (a
    worker's written by its master, from locust messages)."""
    events = []
    for f in sorted(events_dir.glob("events-*.jsonl")):
        for line in f.read_text().splitlines():
            with contextlib.suppress(ValueError):
                events.append(json.loads(line))
    return events


def event_window(events: list[dict[str, Any]]) -> tuple[float, float] | None:
    """From the first phase's start to the last phase's end (epoch seconds): the load window."""
    if not events:
        return None
    return min(e["start"] for e in events), max(e["start"] + e["seconds"] for e in events)
