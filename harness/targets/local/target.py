"""The local target: real EG, JupyterHub, proxy and kernels as processes on 127.0.0.1.

Each component runs from its own cached environment (runtime/envs.py) with a fresh token and
free ports per run; gateway.py, proxy.py, hub.py and spark.py start or describe one component
each. Seeded faults (targets/faults.py) reproduce real misconfigurations, so the project's own
tests can prove each suite catches the fault it owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import psutil
from eg_harness import resources
from eg_harness.runtime import envs, ports, processes
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.timing import Span, recorder
from eg_harness.targets import faults as fault_catalogue
from eg_harness.targets.abilities import HangingKernelspec, KernelLimits, ProcessView
from eg_harness.targets.base import Target
from eg_harness.targets.local import gateway, hub, proxy, spark
from eg_harness.targets.local.components import LocalRun


class LocalTarget(Target, ProcessView, KernelLimits, HangingKernelspec):
    kind = "local"

    def __init__(self, faults=(), run_id: str | None = None, keep_run_dir: bool = False):
        super().__init__(run_id)
        self._faults = fault_catalogue.resolve(faults)
        self.faults = [f.name for f in self._faults]
        self.keep_run_dir = keep_run_dir
        self.run_dir: Path | None = None
        self._run: LocalRun | None = None
        self._gw_env: envs.PythonEnv | None = None
        self._versions: dict[str, str] = {}  # outlives the run, for the report
        self.capabilities.destructive_allowed = True
        self.notes.extend(f"seeded fault {f.name}: {f.description}" for f in self._faults)

    # -- provisioning --------------------------------------------------------------------
    def provision(self, progress=print) -> None:
        span = Span("target_provision", {"target": "local"}, test="(session)")
        span.mark("requested")
        for line in processes.sweep_orphans():
            progress(f"stopped components left by an earlier killed run ({line})")
        gw_env = envs.ensure_python_env(
            "gateway", resources.LOCAL_CLUSTER / "gateway.lock", progress
        )
        self._gw_env = gw_env
        hub_env = envs.ensure_python_env("hub", resources.LOCAL_CLUSTER / "hub.lock", progress)
        chp = envs.ensure_proxy(progress)
        span.mark("environments_ready")
        self.notes.append(
            "proxy: configurable-http-proxy from npm"
            if chp.kind == "npm"
            else "proxy: PyPI configurable-http-proxy drop-in (npm unavailable; no SSL/metrics)"
        )
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"eg-harness-{self.run_id}-"))
        # Lets `eg-harness down` remove the dir of a run that was killed with -9.
        (self.run_dir / processes.OWNER_FILE).write_text(str(os.getpid()))
        supervisor = processes.Supervisor(
            self.run_id, self.run_dir / "logs", marker=str(self.run_dir)
        )
        run = self._run = LocalRun(self.run_id, self.run_dir, supervisor, versions=self._versions)
        try:
            self.gateway, _proc = gateway.launch(run, gw_env, self._faults, progress)
            modes = [f.proxy_mode for f in self._faults if f.proxy_mode]
            if modes:
                self.gateway.url = proxy.start_fault_proxy(
                    run, run.ports["gateway"], modes[0], self.gateway.token, progress
                )
            span.mark("gateway_ready")
            proxy_token = proxy.start_chp(run, chp, progress)
            span.mark("proxy_ready")
            self.hub = hub.start(run, hub_env, self.gateway, proxy_token, self._faults, progress)
            span.mark("hub_ready")
        except BaseException as exc:
            recorder.record(span.finish(False, str(exc)[:300]))
            self.teardown()
            raise
        recorder.record(span.finish(True))
        self.spark = spark.endpoint()
        if self.spark is None:
            self.notes.append(spark.NO_JAVA)
        else:
            self.notes.append(
                f"spark profile image choice {self.spark.recorded['image']!r} is recorded only: "
                "the local driver is pyspark's own"
            )
            run.versions["pyspark (driver)"] = gw_env.version_of("pyspark") or "?"
        run.versions.update(
            {
                "configurable-http-proxy": f"{chp.version} ({chp.kind})",
                "jupyter_server (user servers)": hub_env.version_of("jupyter_server") or "?",
                "jupyterlab (user servers)": hub_env.version_of("jupyterlab") or "?",
                "ipykernel (gateway kernels)": gw_env.version_of("ipykernel") or "?",
            }
        )

    # -- abilities -------------------------------------------------------------------------
    @contextlib.contextmanager
    def limited_gateway(self, *, max_kernels: int | None = None, per_user: int | None = None):
        """A second gateway of this run with kernel limits, for the limits scenario; the main
        gateway stays unlimited so no other suite meets a 403 it did not ask for."""
        assert self._run is not None and self._gw_env is not None
        limits = gateway.limits_for(self._faults, max_kernels, per_user)
        endpoint, proc = gateway.launch(
            self._run, self._gw_env, self._faults, lambda _m: None, "gateway-limited", limits
        )
        try:
            yield endpoint
        finally:
            self._run.supervisor.stop(proc)

    def hanging_kernelspec(self) -> str:
        return "never_ready"

    def gateway_pid(self) -> int | None:
        return self._pid_of("gateway")

    def hub_pid(self) -> int | None:
        return self._pid_of("hub")

    def _pid_of(self, name: str) -> int | None:
        if self._run is None:
            return None
        return next((p.pid for p in self._run.supervisor.procs if p.name == name), None)

    def run_processes(self) -> list[psutil.Process]:
        return processes.run_processes(self.run_id, str(self.run_dir) if self.run_dir else None)

    def kernel_pid(self, kernel_id: str) -> int | None:
        """Find the kernel by its connection file, anywhere among this run's processes."""
        needle = f"kernel-{kernel_id}.json"
        for p in self.run_processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if any(needle in arg for arg in p.cmdline()):
                    return p.pid
        return None

    # -- what scenarios may ask ------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        return dict(self._versions)

    def conformance_kernelspecs(self) -> list[str]:
        return ["python3", "python3_launcher"]

    # -- teardown --------------------------------------------------------------------------
    def teardown(self) -> dict[str, list[str]]:
        left: dict[str, list[str]] = {"processes": [], "ports": []}
        span = Span("target_teardown", {"target": "local"}, test="(session)")
        span.mark("requested")
        run = self._run
        if run is not None:
            left["processes"] = run.supervisor.stop_all()
            span.mark("stopped")
            recorder.record(span.finish(not left["processes"]))
            left["ports"] = [f"{n}:{p}" for n, p in run.ports.items() if ports.port_in_use(p)]
        if self.run_dir is not None:
            if self.diagnostics_dir is not None:
                self.collect_diagnostics(self.diagnostics_dir)
            if not self.keep_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        self._run = None
        return left

    def collect_diagnostics(self, dest: Path) -> list[Path]:
        if self.run_dir is None:
            return []
        dest.mkdir(parents=True, exist_ok=True)
        written = []
        for log in sorted((self.run_dir / "logs").glob("*.log")):
            out = dest / log.name
            out.write_text(redact(log.read_text(errors="replace")))
            written.append(out)
        return written
