"""Processes the harness starts, and proof that none outlive the run.

Every component is started with EG_HARNESS_RUN_ID in its environment; kernels and
single-user servers inherit it. Teardown stops the process trees, then sweeps anything
still carrying the run id, so a kernel orphaned by a crashed gateway is found too.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.waits import WaitTimeout, wait_for

RUN_ID_ENV = "EG_HARNESS_RUN_ID"
OWNER_ENV = "EG_HARNESS_OWNER_PID"


@dataclass
class ManagedProcess:
    name: str
    popen: subprocess.Popen
    log_path: Path
    argv: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return redact("\n".join(text.splitlines()[-lines:]))

    def errors(self, entries: int = 4) -> str:
        """The last error entries of the log (a line logged at E/C level or a traceback, with
        its continuation lines): a hub's log also carries its user servers' chatter, which can
        push the reason it died out of the tail."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        found: list[list[str]] = []
        for i, line in enumerate(lines):
            if ERROR_LINE.match(line):
                entry = [line]
                for more in lines[i + 1 : i + 6]:
                    if more.startswith("[") or not more.strip():
                        break
                    entry.append(more)
                found.append(entry)
        return redact("\n".join("\n".join(e) for e in found[-entries:]))


ERROR_LINE = re.compile(r"^\[(E|C)[ \d]|^Traceback|^\w+Error: ")


def _describe(p: psutil.Process) -> str:
    try:
        return f"{p.pid} {' '.join(p.cmdline()[:3])}"
    except psutil.Error:
        return f"{p.pid} ?"


def describe(p: psutil.Process) -> str:
    """`pid command...` of a process, for reports of what was left."""
    return _describe(p)


def alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def descendants(pid: int) -> list[psutil.Process]:
    """Every process below `pid` (empty when it is gone)."""
    return _descendants(pid)


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _terminate(procs: Iterable[psutil.Process], timeout: float) -> list[psutil.Process]:
    procs = list(procs)
    for p in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.terminate()
    _, alive = psutil.wait_procs(procs, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            p.kill()
    _, still = psutil.wait_procs(alive, timeout=5)
    return still


class Supervisor:
    """Starts components for one run and stops all of them, whatever state they are in."""

    def __init__(self, run_id: str, log_dir: Path, marker: str | None = None) -> None:
        self.run_id = run_id
        self.marker = marker
        self.log_dir = log_dir
        self.procs: list[ManagedProcess] = []

    def start(
        self, name: str, argv: list[str], *, env: dict[str, str], cwd: Path | None = None
    ) -> ManagedProcess:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        full_env = dict(env)
        full_env[RUN_ID_ENV] = self.run_id
        full_env[OWNER_ENV] = str(os.getpid())
        log = open(log_path, "ab")  # noqa: SIM115 - the child owns it for its lifetime
        try:
            popen = subprocess.Popen(
                argv,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to the harness, which stops us in order
            )
        finally:
            log.close()
        proc = ManagedProcess(name, popen, log_path, argv)
        self.procs.append(proc)
        return proc

    def stop(self, proc: ManagedProcess, timeout: float = 10.0) -> None:
        tree = [*_descendants(proc.pid)]
        with contextlib.suppress(psutil.NoSuchProcess):
            tree.insert(0, psutil.Process(proc.pid))
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        _terminate([p for p in tree if p.is_running()], timeout=3)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(5)

    def stop_all(self) -> list[str]:
        """Stop in reverse start order, then sweep; returns what could not be stopped."""
        with signals_deferred():
            for proc in reversed(self.procs):
                self.stop(proc)
            left = sweep_run(self.run_id, self.marker)
        return [_describe(p) for p in left]


@contextlib.contextmanager
def signals_deferred():
    """Let cleanup finish: a Ctrl-C or SIGTERM during teardown must not abandon processes.

    Signals that arrive meanwhile are noted, not acted on; the run is ending anyway.
    """
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    received: list[int] = []
    old = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        old[sig] = signal.getsignal(sig)
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    try:
        yield received
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def run_processes(
    run_id: str, marker: str | None = None, *, own_stacks: bool = False
) -> list[psutil.Process]:
    """Live processes of this run: its id in their environment, or `marker` in their argv;
    with `own_stacks`, also those of its short-lived stacks (OwnStacks.own_stack), whose
    run ids are "<run id>-ownN-...".

    EG gives kernels a minimal environment (PATH and KERNEL_*), so kernels are found by their
    connection file, which lives under the run directory (the marker).
    """
    found = []
    # Never the harness itself or what started it (./dev, a shell tailing a log of the run).
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    for p in psutil.process_iter(["pid"]):
        if p.pid in spared:
            continue
        try:
            if p.status() == psutil.STATUS_ZOMBIE:
                continue
            owner = p.environ().get(RUN_ID_ENV) or ""
            if (
                owner == run_id
                or (own_stacks and owner.startswith(f"{run_id}-own"))
                or (marker and any(marker in arg for arg in p.cmdline()))
            ):
                found.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return found


def kernel_processes(procs: Iterable[psutil.Process]) -> set[str]:
    """The kernels among `procs`, found by their connection file: "pid kernel-<id>.json"."""
    out = set()
    for p in procs:
        try:
            cmd = p.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        files = [os.path.basename(a) for a in cmd if "kernel-" in a and a.endswith(".json")]
        if files:
            out.add(f"{p.pid} {files[0]}")
    return out


# A component being stopped can still be starting a child (a gateway mid-launch forks a
# kernel after the scan that found the gateway): a sweep scans again until a scan finds
# nothing, this many times at most.
SWEEP_ROUNDS = 4


def sweep_run(run_id: str, marker: str | None = None) -> list[psutil.Process]:
    for _ in range(SWEEP_ROUNDS):
        procs = run_processes(run_id, marker)
        if not procs:
            break
        _terminate(procs, timeout=5)
    return run_processes(run_id, marker)


OWNER_FILE = ".eg-harness-owner"


def stale_run_dirs() -> list[Path]:
    """Run dirs (in the temp dir) whose harness process is gone."""
    stale = []
    for d in Path(tempfile.gettempdir()).glob("eg-harness-*"):
        try:
            owner = int((d / OWNER_FILE).read_text().strip())
        except (OSError, ValueError):
            continue  # not ours, or not a run dir
        if not psutil.pid_exists(owner):
            stale.append(d)
    return stale


def sweep_orphans(only: str | None = None) -> list[str]:
    """Stop components of earlier runs whose harness process is gone (killed with -9), and
    remove their run dirs; with `only`, of that run alone (its short-lived stacks' ids begin
    with it)."""

    def wanted(run_id: str) -> bool:
        # a run id from the environment, or a stale run dir's name (eg-harness-<run id>-...)
        return (
            only is None or run_id == only or run_id.startswith((f"{only}-", f"eg-harness-{only}-"))
        )

    counts: dict[str, int] = {}
    for _ in range(SWEEP_ROUNDS):
        by_run = {r: ps for r, ps in _orphans_by_run().items() if wanted(r)}
        if not by_run:
            break
        for run_id, procs in by_run.items():
            _terminate(procs, timeout=5)
            counts[run_id] = counts.get(run_id, 0) + len(procs)
    stopped = [f"{run_id}: {n} process(es)" for run_id, n in counts.items()]
    for d in stale_run_dirs():
        if not wanted(d.name):
            continue
        shutil.rmtree(d, ignore_errors=True)
        stopped.append(f"{d.name}: run dir")
    return stopped


def _orphans_by_run() -> dict[str, list[psutil.Process]]:
    """Processes of runs whose harness is gone: by the run id in their environment, or by a
    stale run dir in their argv (EG gives kernels a minimal environment without the run id;
    their connection file is in the run dir). A kernel whose gateway was SIGKILLed outlives
    it until its parent poller notices, and one the gateway was still launching may never."""
    stale = [str(d) for d in stale_run_dirs()]
    spared = {os.getpid(), *(p.pid for p in psutil.Process().parents())}
    by_run: dict[str, list[psutil.Process]] = {}
    for p in psutil.process_iter(["pid"]):
        if p.pid in spared:
            continue
        try:
            env = p.environ()
            run_id, owner = env.get(RUN_ID_ENV), env.get(OWNER_ENV)
            if run_id and owner and owner.isdigit() and not psutil.pid_exists(int(owner)):
                by_run.setdefault(run_id, []).append(p)
            elif stale and p.status() != psutil.STATUS_ZOMBIE:
                argv = p.cmdline()
                for d in stale:
                    if any(d in arg for arg in argv):
                        by_run.setdefault(Path(d).name, []).append(p)
                        break
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
    return by_run


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_gone(pid: int, timeout: float) -> bool:
    """Whether `pid` exited (or is a zombie nobody reaps) within `timeout`."""
    try:
        wait_for(f"process {pid} to exit", lambda: _gone(pid), timeout, max_interval=0.25)
    except WaitTimeout:
        return False
    return True


def machine_cpu_s() -> tuple[float, float] | None:
    """(busy, idle) CPU-seconds of the whole machine since boot, from /proc/stat; None where
    it is not readable. A difference of two readings says whether a run was bound by the CPU
    or by waiting, which no per-process figure can (a run's processes come and go)."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
        hz = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    user, nice, system, idle, iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / hz, (idle + iowait) / hz


def kill_group(proc: subprocess.Popen) -> None:
    """End a tool started in its own session (start_new_session=True) and all it spawned:
    SIGTERM to the group, SIGKILL after 10 s. A build or a helm call forks helpers that a
    kill of the parent alone would leave behind."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
