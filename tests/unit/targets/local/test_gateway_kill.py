"""The local gateway's `kill`: EG 3.3 runs `kill -<sig> -<pgid>` for kernels revived from a
persisted session, and procps-ng 4.0.x turns that into kill(-1, sig), a signal to every process
on the machine. The shim ends the options first. Checked with signal 0 only (it sends nothing):
for a process group that is gone, the answer must be "no such process", never success."""

from __future__ import annotations

import os
import subprocess

from eg_harness.targets.local import gateway
from eg_harness.targets.local.components import LocalRun


def test_kill_shim_signals_the_group_not_every_process(tmp_path):
    shim = gateway.safe_kill_dir(LocalRun("r", tmp_path, None)) / "kill"  # type: ignore[arg-type]
    gone = subprocess.Popen(["sleep", "30"], start_new_session=True)
    gone.kill()
    gone.wait()
    dead_group = subprocess.run([str(shim), "-0", f"-{gone.pid}"], capture_output=True, text=True)
    assert dead_group.returncode != 0, "kill -0 -<dead group> succeeded: it reached pid -1"
    own_group = subprocess.run([str(shim), "-0", f"-{os.getpgid(0)}"], capture_output=True)
    assert own_group.returncode == 0
    assert subprocess.run([str(shim), "-0", str(os.getpid())]).returncode == 0
