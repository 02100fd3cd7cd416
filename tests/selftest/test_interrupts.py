"""A run interrupted at any moment leaves no process behind.

Ctrl-C (SIGINT) and CI's SIGTERM must tear the stack down in order; a SIGKILL cannot be
caught, so `eg-harness down` (and the next run) must find and stop the orphans.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import uuid

import psutil
import pytest
from eg_harness.runtime.waits import wait_for
from selftest_tools import REPO, _env, harness_cmd, leftovers

pytestmark = pytest.mark.slow


class LiveRun:
    """The CLI in the background, its output readable while it runs."""

    def __init__(
        self, tmp_path, args: list[str], command: str = "run", *, own_group: bool = False
    ) -> None:
        self.run_id = "selftest-" + uuid.uuid4().hex[:8]
        cmd = [
            *harness_cmd(),
            command,
            "--run-id",
            self.run_id,
            "--report-dir",
            str(tmp_path / "r" / self.run_id),
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            # Its own process group, so a test can Ctrl-C it as a terminal does: the whole
            # foreground group (the harness and its xdist workers) gets the SIGINT.
            start_new_session=own_group,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait_output(self, text: str, timeout: float = 120) -> None:
        wait_for(
            f"{text!r} in the harness output",
            lambda: (
                self.proc.poll() is None
                and any(text in ln for ln in self.lines)
                or any(text in ln for ln in self.lines)
            ),
            timeout,
            detail=lambda: "output so far: " + "".join(self.lines)[-1500:],
        )

    def finish(self, timeout: float = 120) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)


@pytest.mark.parametrize(
    ("sig", "moment"),
    [
        (signal.SIGINT, "starting JupyterHub"),  # mid-provisioning
        (signal.SIGINT, "test_gateway_token.py"),  # mid-suite, kernels running
        (signal.SIGTERM, "target local ready"),  # CI's stop, as the first kernels start
    ],
)
def test_interrupted_run_leaves_nothing(tmp_path, sig, moment):
    run = LiveRun(tmp_path, ["--suite", "auth"])
    try:
        run.wait_output(moment)
        run.proc.send_signal(sig)
        code = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    output = "".join(run.lines)[-3000:]
    # -SIGINT: the process ended by SIGINT after its cleanup (CPython re-raises a Ctrl-C it
    # counts as unhandled; seen once under load, with the report written and the stack torn
    # down). A shell, and so a CI step, reports that as 130, the same as our own exit code.
    assert code in (130, 2, -signal.SIGINT), f"exit {code} after {sig.name}:\n{output}"
    assert not leftovers(run.run_id), f"{leftovers(run.run_id)}\n{output}"


@pytest.mark.parametrize(
    ("sig", "to_group"),
    [
        (signal.SIGINT, True),  # Ctrl-C in a terminal: the controller and its workers
        (signal.SIGTERM, False),  # CI's stop: the controller only; it must stop the workers
    ],
    ids=["ctrl-c", "sigterm"],
)
def test_interrupted_parallel_run_leaves_nothing(tmp_path, sig, to_group):
    """A parallel run stopped while its workers have kernels running: the workers, the one
    shared stack, the kernels and the serial lock all go."""
    run = LiveRun(tmp_path, ["--suite", "auth", "-n", "2"], own_group=to_group)
    try:
        run.wait_output("workers [")
        wait_for(
            "a worker's kernel to be running",
            lambda: any("ipykernel" in p for p in leftovers(run.run_id)),
            120,
            detail=lambda: "output so far: " + "".join(run.lines)[-1500:],
        )
        started = psutil.Process(run.proc.pid).children(recursive=True)
        assert len(started) > 2, "expected the stack's components and two workers"
        if to_group:
            os.killpg(run.proc.pid, sig)
        else:
            run.proc.send_signal(sig)
        code = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    output = "".join(run.lines)[-3000:]
    assert code == 130, f"exit {code} after {sig.name}:\n{output}"
    assert not leftovers(run.run_id), f"{leftovers(run.run_id)}\n{output}"
    alive = [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert not alive, f"still running after the run ended: {alive}\n{output}"


def test_killed_run_is_cleaned_by_down(tmp_path):
    """SIGKILL leaves orphans by definition; `eg-harness down` must find and stop them. With
    `--run`, only that run's: plain `down` would also stop the stack of any `up` running beside
    this test (test_cli_up.py), so this one would have to run alone; the sweep is the same."""
    run = LiveRun(tmp_path, ["--suite", "startup"])
    try:
        run.wait_output("target local ready")
        run.proc.kill()
        run.proc.wait(30)
        wait_for("the killed run's orphans to be visible", lambda: leftovers(run.run_id), 10)
        down = subprocess.run(
            [*harness_cmd(), "down", "--run", run.run_id],
            cwd=REPO,
            env=_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert down.returncode == 0, down.stdout + down.stderr
        assert run.run_id in down.stdout, down.stdout
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    assert not leftovers(run.run_id), leftovers(run.run_id)


def test_ctrl_c_during_a_load_storm_stops_locust_and_the_stack(tmp_path):
    """A bench interrupted mid-storm: locust, its kernels and the stack all go."""
    run = LiveRun(tmp_path, ["--ladder", "10", "--churn-users", "0", "--history", ""], "bench")
    try:
        run.wait_output("load: 10 gateway journeys at once")
        wait_for(
            "locust to be running", lambda: any("locust" in p for p in leftovers(run.run_id)), 30
        )
        run.proc.send_signal(signal.SIGINT)
        code = run.finish()
    finally:
        if run.proc.poll() is None:
            run.proc.kill()
    output = "".join(run.lines)[-3000:]
    assert code == 130, f"exit {code} after SIGINT:\n{output}"
    assert not leftovers(run.run_id), f"{leftovers(run.run_id)}\n{output}"
