"""The local target: real EG, JupyterHub, proxy and kernels as processes on 127.0.0.1.

Each component runs from its own cached environment (eg_harness.runtime.envs) with a fresh token and
free ports per run; gateway.py, proxy.py, hub.py and spark.py start or describe one component
each. Seeded faults (eg_harness.targets.faults) reproduce real misconfigurations, so the
project's own tests can prove each suite catches the fault it owns.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import psutil
from eg_harness.errors import HarnessError
from eg_harness.runtime import envs, ports, processes
from eg_harness.runtime import versions as version_sets
from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip
from eg_harness.runtime.timing import Span, recorder
from eg_harness.targets import faults as fault_catalogue
from eg_harness.targets.abilities import (
    ComponentControl,
    ComponentStop,
    ExtraGateways,
    HangingKernelspec,
    KernelLimits,
    OwnStacks,
    ProcessView,
)
from eg_harness.targets.base import Target
from eg_harness.targets.local import gateway, hub, proxy, spark
from eg_harness.targets.local.components import LocalRun
from eg_harness.targets.upgradable import Upgradable


class LocalTarget(
    Target,
    ProcessView,
    KernelLimits,
    HangingKernelspec,
    ComponentControl,
    OwnStacks,
    ExtraGateways,
    Upgradable,
):
    kind = "local"
    # eg-harness upgrade: each component stopped and started at B (ComponentControl).
    upgrade_steps = ("hub", "gateway", "gateway-persistent", "user-servers")
    default_upgrade_steps = upgrade_steps
    default_upgrade_suite = "all"

    @classmethod
    def upgrade_releases(
        cls, origin: str | None, dest: str | None
    ) -> tuple[version_sets.Versions, version_sets.Versions]:
        """Any two component sets: A defaults to the previous releases
        (`versions.DEFAULT_FROM`), B to today's pins."""
        return (
            version_sets.parse(origin, version_sets.default_from()),
            version_sets.parse(dest, version_sets.current()),
        )

    def __init__(
        self,
        faults=(),
        run_id: str | None = None,
        keep_run_dir: bool = False,
        *,
        versions=None,
        gateway_env: dict[str, str] | None = None,
        gateway_config: dict | None = None,
        hub_settings: dict | None = None,
        with_hub: bool = True,
        hub_on_demand: bool = False,
    ):
        """`versions` (eg_harness.runtime.versions) picks the components' releases (default: today's
        pins); `gateway_env`, `gateway_config` (EG traitlets, e.g. culling) and `hub_settings`
        are deployment choices an operator makes (e.g. session persistence, `cleanup_servers`),
        applied before any fault. `with_hub=False` stands up the gateway alone, for work that
        goes straight at it (a bench of gateway journeys): no idle hub and proxy beside what is
        measured, and about 2.5 s less to start. `hub_on_demand` starts the hub and proxy the
        first time something asks for `hub` (a serial run's first test that needs them): a run
        whose tests all go straight at the gateway (most negative twins) never pays the 2.4
        CPU-s of a hub start; a parallel run's controller cannot know, so it starts them."""
        super().__init__(run_id)
        self.stack_versions = versions or version_sets.current()
        self._gateway_env = dict(gateway_env or {})
        self._gateway_config = dict(gateway_config or {})
        self._hub_settings = dict(hub_settings or {})
        self._with_hub = with_hub
        self._hub_lock = threading.Lock()
        self._progress = print  # provision's, for a hub started later
        self.hub_on_demand = with_hub and hub_on_demand
        self._chp: envs.ProxyInstall | None = None
        self._own_stacks = 0  # short-lived stacks made from this one (they are numbered)
        self._proxy_token: str | None = None
        self._faults = fault_catalogue.resolve(faults)
        self.faults = [f.name for f in self._faults]
        self.keep_run_dir = keep_run_dir
        self.run_dir: Path | None = None
        self._run: LocalRun | None = None
        self._gw_env: envs.PythonEnv | None = None
        self._versions: dict[str, str] = {}  # outlives the run, for the report
        # Set on a target attached to a stack another process provisioned (parallel runs):
        # its component pids; this process owns only what it starts itself.
        self._shared_pids: dict[str, int] | None = None
        self.capabilities.destructive_allowed = True
        self.notes.extend(f"seeded fault {f.name}: {f.description}" for f in self._faults)

    # -- provisioning --------------------------------------------------------------------
    def provision(self, progress=print) -> None:
        # The run id tells the run's stack from its short-lived ones (OwnStacks).
        span = Span("target_provision", {"target": "local", "stack": self.run_id}, test="(session)")
        span.mark("requested")
        for line in processes.sweep_orphans():
            progress(f"stopped components left by an earlier killed run ({line})")
        gw_env = version_sets.ensure("gateway", self.stack_versions, progress)
        self._gw_env = gw_env
        hub_env = version_sets.ensure("hub", self.stack_versions, progress)
        self._hub_env = hub_env
        self._chp = envs.ensure_proxy(progress)
        span.mark("environments_ready")
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"eg-harness-{self.run_id}-"))
        # Lets `eg-harness down` remove the dir of a run that was killed with -9.
        (self.run_dir / processes.OWNER_FILE).write_text(str(os.getpid()))
        supervisor = processes.Supervisor(
            self.run_id, self.run_dir / "logs", marker=str(self.run_dir)
        )
        run = self._run = LocalRun(self.run_id, self.run_dir, supervisor, versions=self._versions)
        try:
            self.gateway, _proc = gateway.launch(
                run,
                gw_env,
                self._faults,
                progress,
                extra_env=self._gateway_env,
                extra_config=self._gateway_config,
            )
            modes = [f.proxy_mode for f in self._faults if f.proxy_mode]
            if modes:
                self.gateway.url = proxy.start_fault_proxy(
                    run, run.ports["gateway"], modes[0], self.gateway.token, progress
                )
            span.mark("gateway_ready")
            if self._with_hub and not self.hub_on_demand:
                self._start_hub(span, progress)
        except BaseException as exc:
            recorder.record(span.finish(False, clip(str(exc), 300)))
            self.teardown()
            raise
        recorder.record(span.finish(True))
        if not self._with_hub:
            self.notes.append("no hub or proxy: this run goes straight at the gateway")
        self.spark = spark.endpoint()
        if self.spark is None:
            self.notes.append(spark.NO_JAVA)
        else:
            self.notes.append(
                f"spark profile image choice {self.spark.recorded['image']!r} is recorded only: "
                "the local driver is pyspark's own"
            )
            run.versions["pyspark (driver)"] = gw_env.version_of("pyspark") or "?"
        run.versions["ipykernel (gateway kernels)"] = gw_env.version_of("ipykernel") or "?"
        self._progress = progress

    def _start_hub(self, span: Span, progress) -> None:
        """The proxy, then the hub behind it; their versions and notes for the report."""
        run, chp = self._run, self._chp
        assert run is not None and chp is not None and self.gateway is not None
        proxy_token = self._proxy_token = proxy.start_chp(run, chp, progress)
        span.mark("proxy_ready")
        self._hub = hub.start(
            run,
            self._hub_env,
            self.gateway,
            proxy_token,
            self._faults,
            progress,
            extra_settings=self._hub_settings,
        )
        span.mark("hub_ready")
        self.notes.append(
            "proxy: configurable-http-proxy from npm"
            if chp.kind == "npm"
            else "proxy: PyPI configurable-http-proxy drop-in (npm unavailable; no SSL/metrics)"
        )
        run.versions.update(
            {
                "configurable-http-proxy": f"{chp.version} ({chp.kind})",
                "jupyter_server (user servers)": self._hub_env.version_of("jupyter_server") or "?",
                "jupyterlab (user servers)": self._hub_env.version_of("jupyterlab") or "?",
            }
        )

    # -- the hub, started when first needed (hub_on_demand) ---------------------------------
    @property
    def hub(self):
        """The hub endpoint; with `hub_on_demand`, asking for it starts the hub (once, also
        when several threads ask at once), and its start is a span of its own."""
        if self.hub_on_demand:
            with self._hub_lock:
                if self.hub_on_demand and self._run is not None:
                    span = Span("hub_provision", {"target": "local", "stack": self.run_id})
                    span.mark("requested")
                    try:
                        self._start_hub(span, self._progress)
                    except BaseException as exc:
                        recorder.record(span.finish(False, clip(str(exc), 300)))
                        raise
                    finally:
                        self.hub_on_demand = False
                    recorder.record(span.finish(True))
        return self._hub

    @hub.setter
    def hub(self, value) -> None:
        self._hub = value

    def started_hub(self):
        return self._hub

    # -- one stack, several processes (pytest-xdist workers) -------------------------------
    def handoff(self) -> dict:
        assert self._run is not None, "handoff() of a target that is not provisioned"
        return {
            **super().handoff(),
            "run_dir": str(self.run_dir),
            "pids": {p.name: p.pid for p in self._run.supervisor.procs},
        }

    def attach(self, handoff: dict) -> None:
        self.hub_on_demand = False  # the owner decided: its hub is in the handoff, or none is
        super().attach(handoff)
        self.run_dir = Path(handoff["run_dir"])
        self._shared_pids = dict(handoff["pids"])
        self.withheld[ComponentControl] = (
            "in a parallel run (-n) the stack's components belong to the xdist controller, so a "
            "worker cannot stop and start them: run this scenario without -n"
        )
        self._versions.update(handoff["versions"])
        # This process's own supervisor: what it starts (a limited gateway) carries the run id
        # and its logs land beside the stack's, where the owner's teardown collects them.
        supervisor = processes.Supervisor(
            self.run_id, self.run_dir / "logs", marker=str(self.run_dir)
        )
        self._run = LocalRun(self.run_id, self.run_dir, supervisor, versions=self._versions)

    def release(self) -> dict[str, list[str]]:
        """Stop only what this process started; never sweep the run (the stack is shared)."""
        left: dict[str, list[str]] = {"processes": []}
        if self._run is not None:
            for proc in reversed(self._run.supervisor.procs):
                self._run.supervisor.stop(proc)
                if proc.alive():
                    left["processes"].append(f"{proc.pid} {proc.name}")
        self._run = None
        return left

    # -- abilities -------------------------------------------------------------------------
    @contextlib.contextmanager
    def limited_gateway(self, *, max_kernels: int | None = None, per_user: int | None = None):
        """A second gateway of this run with kernel limits, for the limits scenario; the main
        gateway stays unlimited so no other suite meets a 403 it did not ask for."""
        assert self._run is not None
        self._ensure_gateway_env()
        limits = gateway.limits_for(self._faults, max_kernels, per_user)
        endpoint, proc = gateway.launch(
            self._run, self._gw_env, self._faults, lambda _m: None, "gateway-limited", limits
        )
        try:
            yield endpoint
        finally:
            self._run.supervisor.stop(proc)

    def components(self) -> list[str]:
        return ["gateway", "proxy", "hub"] if self._with_hub else ["gateway"]

    def component_pid(self, name: str) -> int | None:
        proc = self._proc(name)
        return proc.pid if proc.alive() else None

    @contextlib.contextmanager
    def own_stack(
        self,
        *,
        gateway_env=None,
        gateway_config=None,
        hub_settings=None,
        versions=None,
        with_hub=True,
        progress=print,
    ):
        """Numbered after this stack's run id, so its processes and run dir carry the run's id
        as a prefix (the leak checks find them) while its own sweep never touches this one."""
        self._own_stacks += 1
        stack = LocalTarget(
            faults=self.faults,
            # The pid keeps two parallel workers' stacks apart (each sweeps by its run id).
            run_id=f"{self.run_id}-own{self._own_stacks}-p{os.getpid()}",
            versions=versions or self.stack_versions,
            gateway_env=gateway_env,
            gateway_config=gateway_config,
            hub_settings=hub_settings,
            with_hub=with_hub,
        )
        try:
            stack.provision(progress)
            yield stack  # the caller may set stack.diagnostics_dir for its logs
        finally:
            left = stack.teardown()
            if any(left.values()):
                raise HarnessError(f"the short-lived stack {stack.run_id} left behind: {left}")

    def _proc(self, name: str) -> processes.ManagedProcess:
        if self._run is None:
            raise RuntimeError("the target is not provisioned")
        if name in ("hub", "proxy") and self.hub_on_demand:
            _ = self.hub  # a hub that waits for its first use starts now
        for p in reversed(self._run.supervisor.procs):
            if p.name == name:
                return p
        raise ValueError(f"no component {name!r}: choose one of {', '.join(self.components())}")

    def stop_component(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 30.0):
        proc = self._proc(name)
        before = {p.pid: p for p in processes.descendants(proc.pid)}
        if proc.alive():
            with contextlib.suppress(ProcessLookupError):
                if (
                    sig == signal.SIGTERM
                ):  # a pod's PID 1 gets it (an entrypoint may not pass it on)
                    proc.popen.send_signal(sig)
                else:  # the whole container: the component runs in a session of its own
                    os.killpg(proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout)
        if proc.alive():  # did not stop in time: what Kubernetes does after its grace period
            proc.popen.kill()
            proc.popen.wait(10)
        # A hub's user servers are pods of their own in a real deployment: not "outlived".
        own = set() if name != "hub" else {p.pid for p in before.values()}
        outlived = [
            processes.describe(p)
            for pid, p in before.items()
            if pid not in own and processes.alive(p)
        ]
        return ComponentStop(name, proc.popen.returncode, outlived)

    def start_component(self, name: str, **changes) -> None:
        run = self._run
        if run is None or self.gateway is None or self.hub is None:
            raise RuntimeError("the target is not provisioned")
        if self._proc(name).alive():
            raise RuntimeError(f"{name} is still running: stop it first")
        unknown = set(changes) - {"versions", "env", "config", "settings", "upgrade_db", "progress"}
        if unknown:
            raise ValueError(f"unknown changes {sorted(unknown)}")
        say = changes.get("progress") or (lambda _m: None)
        if "versions" in changes:
            self.stack_versions = changes["versions"]
        if name == "gateway":
            self._gateway_env = _merged(self._gateway_env, changes.get("env"))
            self._gateway_config = _merged(self._gateway_config, changes.get("config"))
            self._gw_env = version_sets.ensure("gateway", self.stack_versions, say)
            port = run.ports["gateway"]
            endpoint, _p = gateway.launch(
                run,
                self._gw_env,
                self._faults,
                say,
                port=port,
                token=self.gateway.token,
                extra_env=self._gateway_env,
                extra_config=self._gateway_config,
            )
            if "fault_proxy" not in run.ports:
                self.gateway = endpoint
        elif name == "hub":
            self._hub_settings = _merged(self._hub_settings, changes.get("settings"))
            self._hub_env = version_sets.ensure("hub", self.stack_versions, say)
            upgrade_db = bool(changes.get("upgrade_db")) and not any(
                "upgrade-db" in f.operator_skips for f in self._faults
            )
            assert self._proxy_token is not None
            self.hub = hub.start(
                run,
                self._hub_env,
                self.gateway,
                self._proxy_token,
                self._faults,
                say,
                service_token=self.hub.api_token,
                extra_settings=self._hub_settings,
                upgrade_db=upgrade_db,
            )
        elif name == "proxy":
            assert self._chp is not None
            proxy.start_chp(run, self._chp, say, token=self._proxy_token)
        else:
            raise ValueError(f"no component {name!r}: choose one of {', '.join(self.components())}")
        run.versions["jupyter_server (user servers)"] = (
            self._hub_env.version_of("jupyter_server") or "?"
        )
        run.versions["jupyterlab (user servers)"] = self._hub_env.version_of("jupyterlab") or "?"

    def signal_component(self, name: str, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc(name).pid, sig)  # the whole container, e.g. a frozen pod

    @contextlib.contextmanager
    def extra_gateways(self, count: int, progress=print):
        """More gateways of this run, sharing the kernelspecs, each its own process, port and
        token; stopped when the block ends (and by teardown's sweep if it never does)."""
        assert self._run is not None
        self._ensure_gateway_env()
        started = []
        try:
            for i in range(2, count + 2):
                started.append(
                    gateway.launch(
                        self._run,
                        self._gw_env,
                        self._faults,
                        progress,
                        f"gateway-{i}",
                        {},
                        extra_env=self._gateway_env,
                    )
                )
            yield [endpoint for endpoint, _proc in started]
        finally:
            for _endpoint, proc in started:
                self._run.supervisor.stop(proc)

    def component_pids(self) -> dict[str, int]:
        # An attached target (a parallel run's worker): the owner's components, by pid.
        shared = {n: pid for n, pid in (self._shared_pids or {}).items() if psutil.pid_exists(pid)}
        if self._run is None:
            return shared
        return {**shared, **{p.name: p.pid for p in self._run.supervisor.procs if p.alive()}}

    def _ensure_gateway_env(self) -> None:
        """An attached target has not provisioned: the cached environment, found, not rebuilt."""
        if self._gw_env is None:
            self._gw_env = version_sets.ensure("gateway", self.stack_versions, lambda _m: None)

    def hanging_kernelspec(self) -> str:
        return "never_ready"

    def gateway_pid(self) -> int | None:
        return self._pid_of("gateway")

    def hub_pid(self) -> int | None:
        return self._pid_of("hub")

    def _pid_of(self, name: str) -> int | None:
        """The component's latest process (a restart adds one), while it runs."""
        if self._shared_pids is not None and name in self._shared_pids:
            pid = self._shared_pids[name]
            return pid if psutil.pid_exists(pid) else None
        if self._run is None:
            return None
        proc = next((p for p in reversed(self._run.supervisor.procs) if p.name == name), None)
        return proc.pid if proc is not None and proc.alive() else None

    def run_processes(self) -> list[psutil.Process]:
        return processes.run_processes(self.run_id, str(self.run_dir) if self.run_dir else None)

    def kernel_processes(self, kernel_id: str) -> list[int]:
        """By the id in their argv: the connection file, a launcher's --kernel-id, a Spark
        driver's application name."""
        found = []
        for p in self.run_processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if any(kernel_id in arg for arg in p.cmdline()):
                    found.append(p.pid)
        return found

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
        if self.hub_on_demand and self._run is not None:
            self.notes.append(
                "hub and proxy not started: no test of this run needed them (a serial run "
                "starts them when its first test asks for the hub)"
            )
        self.hub_on_demand = False  # a hub nobody needed is not started to be stopped
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


def _merged(current: dict, change: dict | None) -> dict:
    """`current` updated by `change`, where a value of None removes the key."""
    out = {**current, **(change or {})}
    return {k: v for k, v in out.items() if v is not None}
