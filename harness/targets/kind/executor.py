"""Runs a kind plan step by step, with progress and bounds, keeping an undo stack.

Each finished step that created something pushes its undo; `undo_all` pops them in reverse, so
a failure halfway, a Ctrl-C or the end of the run leaves nothing this run created (except
what the user asked to keep). Children run in their own session so Ctrl-C reaches the harness
first, which then stops them itself.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime import processes
from eg_harness.runtime.processes import OWNER_ENV, RUN_ID_ENV, signals_deferred
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.kind.plan import Plan, Step

HEARTBEAT_S = 30.0


class StepFailed(TargetUnavailable):
    """A step failed or ran out of time; names the phase, the step, the cause and its log."""

    def __init__(self, step: Step, cause: str, log: Path | None):
        self.step = step
        where = f" (log: {log})" if log else ""
        super().__init__(f"kind target, {step.phase}: {step.title} failed: {cause}{where}")


def _last_line(path: Path) -> str:
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "no output"
    return redact(lines[-1]) if lines else "no output"


class Executor:
    def __init__(self, plan: Plan, progress: Callable[[str], None] = print) -> None:
        self.plan = plan
        self.progress = progress
        self.log_dir = plan.settings.run_dir / "logs"
        self.done: list[tuple[Step, subprocess.Popen | None]] = []
        self._count = 0

    # --- running --------------------------------------------------------------------------

    def run(self) -> None:
        for step in self.plan.steps:
            self.run_step(step)

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env[RUN_ID_ENV] = self.plan.settings.run_id
        env[OWNER_ENV] = str(os.getpid())
        return env

    def _say(self, step: Step, text: str) -> None:
        self.progress(f"[{step.phase}] {text}")

    def run_step(self, step: Step) -> None:
        self._count += 1
        if step.skip_if and self._succeeds(step.skip_if):
            self._say(step, f"{step.title}: already done, skipped")
            return
        bound = f" (bound {step.timeout:.0f}s)" if step.timeout else ""
        self._say(step, f"{step.title}{bound}")
        t0 = time.monotonic()
        process = None
        if step.kind == "write":
            assert step.path is not None
            step.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(step.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, step.mode)
            with os.fdopen(fd, "w") as fh:
                fh.write(step.content)
        elif step.kind == "run":
            self._run_bounded(step)
        elif step.kind == "background":
            process = self._start(step)
        elif step.kind == "http":
            self._wait_http(step)
        else:
            raise ValueError(f"unknown step kind {step.kind!r}")
        if step.undo is not None:
            self.done.append((step, process))
        if step.kind in ("run", "http"):
            self._say(step, f"{step.title}: done in {time.monotonic() - t0:.0f}s")

    def _succeeds(self, argv: tuple[str, ...]) -> bool:
        try:
            return (
                subprocess.run(argv, capture_output=True, timeout=30, env=self._env()).returncode
                == 0
            )
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _log_path(self, step: Step) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        slug = "".join(ch if ch.isalnum() else "-" for ch in step.phase)[:40]
        return self.log_dir / f"{self._count:02d}-{slug}.log"

    def _start(self, step: Step) -> tuple[subprocess.Popen, Path]:
        log = self._log_path(step)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                step.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self._env(),
                start_new_session=True,
            )
        return proc, log

    def _run_bounded(self, step: Step) -> None:
        try:
            proc, log = self._start(step)
        except OSError as exc:
            raise StepFailed(step, f"{step.argv[0]} cannot run ({exc.strerror})", None) from None
        t0 = time.monotonic()
        next_beat = [t0 + HEARTBEAT_S]

        def finished() -> bool:
            if proc.poll() is not None:
                return True
            now = time.monotonic()
            if now >= next_beat[0]:
                next_beat[0] = now + HEARTBEAT_S
                self._say(
                    step, f"still running: {step.title} ({now - t0:.0f}s of {step.timeout:.0f}s)"
                )
            return False

        try:
            wait_for(step.title, finished, step.timeout, max_interval=1.0)
        except WaitTimeout:
            processes.kill_group(proc)
            raise StepFailed(step, f"timed out after {step.timeout:.0f}s", log) from None
        finally:
            if proc.poll() is None:  # Ctrl-C while waiting: the child goes too
                processes.kill_group(proc)
        if proc.returncode != 0:
            raise StepFailed(step, f"exit {proc.returncode}: {_last_line(log)}", log)

    def _wait_http(self, step: Step) -> None:
        def answers() -> bool:
            return httpx.get(step.url, headers=step.headers, timeout=5).status_code == 200

        try:
            wait_for(f"{step.url} to answer 200", answers, step.timeout, max_interval=2.0)
        except WaitTimeout as exc:
            raise StepFailed(step, redact(str(exc)), None) from None

    # --- undoing --------------------------------------------------------------------------

    def cluster_goes(self) -> bool:
        """Whether undoing will delete a cluster this run created (and everything in it)."""
        s = self.plan.settings
        return not s.keep and any(
            st.undo is not None
            and st.undo.argv
            and not st.undo.inside_cluster
            and st.phase == "cluster"
            for st, _ in self.done
        )

    def undo_all(self) -> list[str]:
        """Undo in reverse order, deferring Ctrl-C; returns what could not be undone."""
        left: list[str] = []
        cluster_goes = self.cluster_goes()
        with signals_deferred():
            while self.done:
                step, process = self.done.pop()
                undo = step.undo
                assert undo is not None
                if undo.inside_cluster and cluster_goes:
                    continue  # deleted with the cluster
                if step.phase == "cluster" and undo.argv and self.plan.settings.keep:
                    self.progress(
                        f"[teardown] keeping kind cluster {self.plan.settings.cluster} "
                        f"(--keep-cluster): `kind delete cluster --name "
                        f"{self.plan.settings.cluster}` removes it"
                    )
                    continue
                try:
                    self._undo(step, process)
                except Exception as exc:  # noqa: BLE001 - keep undoing the rest
                    left.append(f"{step.creates}: {redact(str(exc))}")
        return left

    def _undo(self, step: Step, process: tuple[subprocess.Popen, Path] | None) -> None:
        undo = step.undo
        assert undo is not None
        if not undo.argv:
            if process is not None:
                processes.kill_group(process[0])
            elif step.path is not None:
                step.path.unlink(missing_ok=True)
            return
        self.progress(f"[teardown] {undo.describe(step)}")
        proc = subprocess.run(
            undo.argv, capture_output=True, text=True, timeout=undo.timeout, env=self._env()
        )
        if proc.returncode != 0:
            said = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            if "not found" not in said[0].lower():
                raise RuntimeError(f"exit {proc.returncode}: {said[0]}")
