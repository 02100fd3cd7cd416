"""What every local component shares: the run directory, its supervisor, ports and readiness.

Each component module (gateway, proxy, hub) starts its process through one `LocalRun`, so the
clean environment and the bounded readiness wait are written once.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eg_harness.errors import TargetUnavailable
from eg_harness.runtime import processes
from eg_harness.runtime.waits import WaitTimeout, wait_for

READY_TIMEOUT = float(os.environ.get("EG_HARNESS_READY_TIMEOUT", "90"))


@dataclass
class LocalRun:
    run_id: str
    run_dir: Path
    supervisor: processes.Supervisor
    ports: dict[str, int] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    def env(self, name: str) -> dict[str, str]:
        """A clean environment: nothing from the user's ~/.jupyter leaks into a component."""
        home = self.run_dir / name
        home.mkdir(parents=True, exist_ok=True)
        keep = ("PATH", "LANG", "LC_ALL", "HOME", "TMPDIR", "JAVA_HOME", "USER", "LOGNAME")
        env = {k: os.environ[k] for k in keep if k in os.environ}
        env.update(
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            IPYTHONDIR=str(home / "ipython"),
            JUPYTER_PLATFORM_DIRS="1",
            PYTHONUNBUFFERED="1",
        )
        return env

    def wait_ready(self, name: str, proc: processes.ManagedProcess, ready, url: str):
        """Wait for `ready()` to answer truthy; a component that exits or hangs is exit 3."""

        exited = object()

        def check():
            # A return, not a raise: wait_for takes exceptions for "not yet".
            if not proc.alive():
                return exited
            return ready()

        try:
            value = wait_for(f"{name} to answer at {url}", check, READY_TIMEOUT, interval=0.1)
            if value is exited:
                raise _Exited()
            return value
        except _Exited:
            errors = proc.errors()
            raise TargetUnavailable(
                f"{name} exited with code {proc.popen.returncode} before it was ready; "
                + (f"its last errors:\n{errors}\n" if errors else "")
                + f"last log lines:\n{proc.tail()}"
            ) from None
        except WaitTimeout as exc:
            raise TargetUnavailable(f"{exc}; last log lines of {name}:\n{proc.tail()}") from None


class _Exited(Exception):
    pass
