"""Unit tests for harness.processes with real child processes.

Every test uses its own run id, marks nothing it did not start, and kills whatever it
started in a `finally`, so a failing assertion cannot leave a sleeper behind.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psutil
import pytest
from eg_harness.runtime import processes as p
from eg_harness.runtime import secrets
from eg_harness.runtime.waits import wait_for

SLEEP = "import time; time.sleep(120)"
# The child starts a grandchild (inheriting its environment), reports its pid, and sleeps.
PARENT = (
    "import subprocess, sys, time\n"
    "gc = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print('grandchild', gc.pid, 'secret', sys.argv[1], flush=True)\n"
    "time.sleep(120)\n"
)


def _run_id() -> str:
    return f"unit-{uuid.uuid4().hex}"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (p.RUN_ID_ENV, p.OWNER_ENV)}
    env.update(extra)
    return env


def _found(run_id: str, want: set[int], marker: str | None = None) -> set[int]:
    """The pids run_processes finds, once they are `want` (bounded): a process read in the
    instant of its exec shows an empty environment (Linux fills /proc/PID/environ's bounds
    after the exec has closed the pipe Popen waits on), so a scan right after a start can
    miss it; the sweeps scan until a scan finds nothing for the same reason."""
    try:
        return wait_for(
            f"run {run_id}'s processes {sorted(want)}",
            lambda: (got := _pids(p.run_processes(run_id, marker))) == want and got,
            10,
        )
    except AssertionError:
        return _pids(p.run_processes(run_id, marker))


def _pids(procs) -> set[int]:
    return {proc.pid for proc in procs}


def _kill_all(pids, popens=()) -> None:
    """Best-effort cleanup of everything a test may have left."""
    procs = []
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            procs.append(psutil.Process(pid))
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(procs, timeout=5)
    for popen in popens:
        with contextlib.suppress(OSError):
            popen.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            popen.wait(5)


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture(autouse=True)
def _no_inherited_run_id(monkeypatch):
    # If the harness itself runs these tests, children must not inherit its run id.
    monkeypatch.delenv(p.RUN_ID_ENV, raising=False)
    monkeypatch.delenv(p.OWNER_ENV, raising=False)


def test_supervisor_finds_the_tree_and_stop_all_leaves_nothing(tmp_path: Path):
    run_id = _run_id()
    token = secrets.new_token()
    sup = p.Supervisor(run_id, tmp_path / "logs")
    seen: set[int] = set()
    try:
        proc = sup.start("sleeper", [sys.executable, "-c", PARENT, token], env=_clean_env())
        seen.add(proc.pid)
        assert proc.alive()
        assert proc.log_path == tmp_path / "logs" / "sleeper.log"

        def both():
            found = p.run_processes(run_id)
            return found if len(found) >= 2 else None

        found = wait_for(
            "the child and its grandchild to carry the run id",
            both,
            timeout=15,
            detail=lambda: f"log: {proc.tail()!r}",
        )
        seen |= _pids(found)
        wait_for("the grandchild's pid in the log", lambda: "grandchild" in proc.tail(), 10)
        grandchild = int(proc.log_path.read_text().split()[1])
        seen.add(grandchild)
        assert _pids(found) == {proc.pid, grandchild}
        assert psutil.Process(grandchild).ppid() == proc.pid

        env = psutil.Process(grandchild).environ()
        assert env[p.RUN_ID_ENV] == run_id
        assert env[p.OWNER_ENV] == str(os.getpid())

        # The log is scrubbed of registered secrets when shown.
        assert token in proc.log_path.read_text()
        assert token not in proc.tail()
        assert secrets.REDACTED in proc.tail()

        assert sup.stop_all() == []
        assert p.run_processes(run_id) == []
        assert not proc.alive()
        assert _gone(proc.pid)
        assert _gone(grandchild)
    finally:
        _kill_all(seen, [s.popen for s in sup.procs])


def test_stop_all_stops_in_reverse_order_and_is_idempotent(tmp_path: Path):
    run_id = _run_id()
    sup = p.Supervisor(run_id, tmp_path / "logs")
    try:
        first = sup.start("first", [sys.executable, "-c", SLEEP], env=_clean_env())
        second = sup.start("second", [sys.executable, "-c", SLEEP], env=_clean_env())
        assert _found(run_id, {first.pid, second.pid}) == {first.pid, second.pid}
        assert sup.stop_all() == []
        assert not first.alive() and not second.alive()
        assert p.run_processes(run_id) == []
        # Stopping what is already stopped is harmless.
        assert sup.stop_all() == []
    finally:
        _kill_all([], [s.popen for s in sup.procs])


def test_marker_discovery_without_the_env_var(tmp_path: Path):
    run_id = _run_id()
    marker = str(tmp_path / f"run-{uuid.uuid4().hex}")
    popen = subprocess.Popen(
        [sys.executable, "-c", SLEEP, f"{marker}/kernel-1.json"],
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        assert _found(run_id, {popen.pid}, marker) == {popen.pid}  # found, so past its exec
        assert p.RUN_ID_ENV not in psutil.Process(popen.pid).environ()
        assert popen.pid not in _pids(p.run_processes(run_id))

        assert p.sweep_run(run_id, marker) == []
        popen.wait(5)
        assert p.run_processes(run_id, marker) == []
    finally:
        _kill_all([], [popen])


def test_sweep_run_leaves_other_runs_alone(tmp_path: Path):
    mine, theirs = _run_id(), _run_id()
    a = subprocess.Popen(
        [sys.executable, "-c", SLEEP],
        env=_clean_env(**{p.RUN_ID_ENV: mine}),
        stdin=subprocess.DEVNULL,
    )
    b = subprocess.Popen(
        [sys.executable, "-c", SLEEP],
        env=_clean_env(**{p.RUN_ID_ENV: theirs}),
        stdin=subprocess.DEVNULL,
    )
    try:
        assert _found(mine, {a.pid}) == {a.pid}
        assert p.sweep_run(mine) == []
        a.wait(5)
        assert b.poll() is None
        assert _found(theirs, {b.pid}) == {b.pid}
    finally:
        _kill_all([], [a, b])


# A component that starts a child while it is being stopped (a gateway mid-launch forks a
# kernel): the child appears after the scan that found its parent.
FORKS_ON_TERM = (
    "import os, signal, subprocess, sys, time\n"
    "def stop(*_):\n"
    "    subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],\n"
    "                     start_new_session=True)\n"
    "    os._exit(0)\n"
    "signal.signal(signal.SIGTERM, stop)\n"
    "print('ready', flush=True)\n"
    "time.sleep(120)\n"
)


def test_sweep_run_also_stops_what_a_stopping_process_starts():
    run_id = _run_id()
    parent = subprocess.Popen(
        [sys.executable, "-c", FORKS_ON_TERM],
        env=_clean_env(**{p.RUN_ID_ENV: run_id}),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout.readline().strip() == "ready"
        assert p.sweep_run(run_id) == []
        assert p.run_processes(run_id) == []
    finally:
        _kill_all(_pids(p.run_processes(run_id)), [parent])


def _dead_pid() -> int:
    short = subprocess.Popen([sys.executable, "-c", "pass"])
    short.wait(10)
    assert not psutil.pid_exists(short.pid)
    return short.pid


def test_sweep_orphans_stops_only_processes_whose_owner_is_dead(monkeypatch):
    orphan_run, owned_run = _run_id(), _run_id()
    dead = _dead_pid()
    orphan = subprocess.Popen(
        [sys.executable, "-c", SLEEP],
        env=_clean_env(**{p.RUN_ID_ENV: orphan_run, p.OWNER_ENV: str(dead)}),
        stdin=subprocess.DEVNULL,
    )
    owned = subprocess.Popen(
        [sys.executable, "-c", SLEEP],
        env=_clean_env(**{p.RUN_ID_ENV: owned_run, p.OWNER_ENV: str(os.getpid())}),
        stdin=subprocess.DEVNULL,
    )
    try:
        if psutil.pid_exists(dead):  # the pid was reused in the meantime
            pytest.skip(f"pid {dead} was reused before the sweep")
        # sweep_orphans looks at every process on the machine; show it only ours, so this
        # test cannot stop another session's leftovers (which its own checks may rely on).
        ours = {orphan.pid, owned.pid}
        real_iter = psutil.process_iter
        monkeypatch.setattr(
            psutil,
            "process_iter",
            lambda *a, **k: (proc for proc in real_iter(*a, **k) if proc.pid in ours),
        )
        stopped = p.sweep_orphans()
        assert stopped == [f"{orphan_run}: 1 process(es)"]
        orphan.wait(5)  # raises TimeoutExpired if the sweep did not stop it
        assert owned.poll() is None
        assert _pids(p.run_processes(owned_run)) == {owned.pid}
        assert p.run_processes(orphan_run) == []
    finally:
        _kill_all([], [orphan, owned])


def test_sweep_orphans_of_one_run_leaves_other_orphans(monkeypatch, tmp_path):
    """`down --run ID`: that run's orphans and run dir go (also its short-lived stacks'),
    another killed run's stay for its own `down`."""
    monkeypatch.setattr(p.tempfile, "gettempdir", lambda: str(tmp_path))
    mine, other, dead = _run_id(), _run_id(), _dead_pid()
    dirs = {r: tmp_path / f"eg-harness-{r}-x1" for r in (mine, other)}
    for d in dirs.values():
        d.mkdir()
        (d / p.OWNER_FILE).write_text(str(dead))
    procs = {
        r: subprocess.Popen(
            [sys.executable, "-c", SLEEP],
            env=_clean_env(**{p.RUN_ID_ENV: r, p.OWNER_ENV: str(dead)}),
            stdin=subprocess.DEVNULL,
        )
        for r in (f"{mine}-own1-p1", other)
    }
    try:
        if psutil.pid_exists(dead):
            pytest.skip(f"pid {dead} was reused before the sweep")
        ours = {x.pid for x in procs.values()}
        real_iter = psutil.process_iter
        monkeypatch.setattr(
            psutil,
            "process_iter",
            lambda *a, **k: (proc for proc in real_iter(*a, **k) if proc.pid in ours),
        )
        stopped = p.sweep_orphans(mine)
        assert f"{mine}-own1-p1: 1 process(es)" in stopped, stopped
        procs[f"{mine}-own1-p1"].wait(5)  # raises TimeoutExpired if the sweep missed it
        assert not dirs[mine].exists()
        assert procs[other].poll() is None and dirs[other].is_dir(), stopped
    finally:
        _kill_all([], list(procs.values()))


def test_sweep_orphans_stops_a_kernel_found_only_by_its_stale_run_dir(monkeypatch, tmp_path):
    # A kernel carries no run id (EG keeps its environment minimal), only its connection file
    # under the run dir; the dir's owner (the harness) was killed.
    monkeypatch.setattr(p.tempfile, "gettempdir", lambda: str(tmp_path))
    run_dir = tmp_path / f"eg-harness-{_run_id()}-x1"
    run_dir.mkdir()
    (run_dir / p.OWNER_FILE).write_text(str(_dead_pid()))
    kernel = subprocess.Popen(
        [sys.executable, "-c", SLEEP, str(run_dir / "kernel-1.json")],
        env=_clean_env(),
        stdin=subprocess.DEVNULL,
    )
    try:
        real_iter = psutil.process_iter
        monkeypatch.setattr(
            psutil,
            "process_iter",
            lambda *a, **k: (proc for proc in real_iter(*a, **k) if proc.pid == kernel.pid),
        )
        stopped = p.sweep_orphans()
        assert f"{run_dir.name}: 1 process(es)" in stopped, stopped
        kernel.wait(5)  # raises TimeoutExpired if the sweep did not stop it
        assert not run_dir.exists()
    finally:
        _kill_all([], [kernel])


def test_wait_gone():
    popen = subprocess.Popen([sys.executable, "-c", SLEEP], stdin=subprocess.DEVNULL)
    try:
        assert p.wait_gone(popen.pid, timeout=0.1) is False
        popen.kill()
        assert p.wait_gone(popen.pid, timeout=5) is True  # a zombie counts as gone
    finally:
        _kill_all([], [popen])


def test_process_cpu_tells_a_busy_process_from_an_idle_one():
    from eg_harness.load.cpu import ProcessCpu

    # The busy one spins until its stdin closes; the idle one sleeps.
    spin = "import sys, select\nwhile not select.select([sys.stdin], [], [], 0)[0]:\n    pass\n"
    busy = subprocess.Popen([sys.executable, "-c", spin], stdin=subprocess.PIPE)
    idle = subprocess.Popen([sys.executable, "-c", SLEEP], stdin=subprocess.DEVNULL)
    try:
        watch = ProcessCpu({"busy": busy.pid, "idle": idle.pid, "gone": None})
        t0 = time.monotonic()
        wait_for("a second to pass", lambda: time.monotonic() - t0 >= 1.0, 5, max_interval=0.1)
        cores = watch.cores(time.monotonic())
        assert set(cores) == {"busy", "idle"}, cores  # a missing pid is left out, not an error
        assert cores["busy"] > 0.3 and cores["idle"] < 0.1, cores
    finally:
        _kill_all([], [busy, idle])


# A child run that takes a while to tear down after SIGINT, as `eg-harness run` does.
TEARS_DOWN = (
    "import pathlib, signal, sys, time\n"
    "out = pathlib.Path(sys.argv[1])\n"
    "def stop(*_):\n"
    "    time.sleep(1.0)\n"
    "    out.write_text('torn down')\n"
    "    sys.exit(130)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "out.write_text('ready')\n"
    "time.sleep(120)\n"
)
# The repeat's parent: one child run through repeat.run_child, its exit code printed.
PARENT_OF_ONE_RUN = (
    "import sys\n"
    "from eg_harness.cli.common import sigterm_as_interrupt\n"
    "from eg_harness.cli.repeat import run_child\n"
    "sigterm_as_interrupt()\n"
    "print('child exit', run_child([sys.executable, '-c', sys.argv[1], sys.argv[2]]), flush=True)\n"
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_repeat_lets_its_child_run_tear_down(tmp_path, sig):
    """A signal to the `--repeat` parent alone (not its process group) reaches the child run
    as SIGINT, and the parent waits for its teardown instead of killing it."""
    out = tmp_path / "child"
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT_OF_ONE_RUN, TEARS_DOWN, str(out)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # the signal goes to the parent only, as `kill -INT <pid>`
    )
    try:
        wait_for("the child run to start", lambda: out.exists() and out.read_text() == "ready", 30)
        parent.send_signal(sig)
        stdout, _ = parent.communicate(timeout=30)
        assert out.read_text() == "torn down", "the child run was killed before its teardown"
        assert "child exit 130" in stdout, stdout
    finally:
        _kill_all([], [parent])
