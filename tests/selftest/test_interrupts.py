"""A run interrupted at any moment leaves no process behind.

Ctrl-C (SIGINT) and CI's SIGTERM must tear the stack down in order; a SIGKILL cannot be
caught, so `eg-harness down` (and the next run) must find and stop the orphans.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import uuid

import pytest
from eg_harness.runtime.waits import wait_for
from selftest_tools import REPO, _env, harness_cmd, leftovers

pytestmark = pytest.mark.slow


class LiveRun:
    """The CLI in the background, its output readable while it runs."""

    def __init__(self, tmp_path, args: list[str], command: str = "run") -> None:
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
            cmd, cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
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
    assert code in (130, 2), f"exit {code} after {sig.name}:\n{output}"
    assert not leftovers(run.run_id), f"{leftovers(run.run_id)}\n{output}"


def test_killed_run_is_cleaned_by_down(tmp_path):
    """SIGKILL leaves orphans by definition; `eg-harness down` must find and stop them."""
    run = LiveRun(tmp_path, ["--suite", "startup"])
    try:
        run.wait_output("target local ready")
        run.proc.kill()
        run.proc.wait(30)
        wait_for("the killed run's orphans to be visible", lambda: leftovers(run.run_id), 10)
        down = subprocess.run(
            [*harness_cmd(), "down"],
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
