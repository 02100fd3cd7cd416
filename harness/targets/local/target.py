"""The local target: real EG, JupyterHub, proxy and kernels as processes on 127.0.0.1.

Each component runs from its own cached environment (harness/envs.py) with a fresh token and
free ports per run. Seeded faults reproduce real misconfigurations, so the project's own
tests can prove each suite catches the fault it owns.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psutil
from eg_harness import resources
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime import envs, ports, processes
from eg_harness.runtime.secrets import new_token, redact
from eg_harness.runtime.timing import Span, recorder
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.base import (
    GatewayEndpoint,
    HubEndpoint,
    SparkChoice,
    SparkEndpoint,
    Target,
)

FAULTS = {
    "gateway_no_token": "the gateway runs without an auth token and accepts any request",
    "gateway_allows_root": "the gateway lets root start kernels (unauthorized_users emptied)",
    "profile_not_gateway": (
        "the hub profile misspells jupyter_gateway_url, so user servers are not in gateway mode"
    ),
    "hub_no_identity": "the hub does not pass KERNEL_USERNAME to the user servers",
    "hub_fixed_identity": "the hub sets KERNEL_USERNAME=jovyan for every user (EG #661)",
    "gateway_ws_drops_binary": (
        "a proxy in front of the gateway drops binary WebSocket frames (both directions)"
    ),
    "gateway_ws_refuses_upgrade": "a proxy in front of the gateway refuses WebSocket upgrades",
    "gateway_max_kernels": "the gateway allows at most 2 kernels (EG_MAX_KERNELS=2)",
    "gateway_limit_unset": "a gateway meant to enforce kernel limits starts without them",
    "gateway_slow_start": "every python3 kernel takes 2 s longer to start (a slow launcher)",
    "spark_ignores_memory": (
        "the Spark kernelspec's run script drops KERNEL_MEMORY, so drivers get Spark's default heap"
    ),
}
SPARK_KERNELSPEC = "spark_python_local"
SPARK_LAUNCH_TIMEOUT = 90.0
_PROXY_FAULTS = {
    "gateway_ws_drops_binary": "drop-binary",
    "gateway_ws_refuses_upgrade": "refuse-upgrade",
}

READY_TIMEOUT = float(os.environ.get("EG_HARNESS_READY_TIMEOUT", "90"))


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()


class LocalTarget(Target):
    kind = "local"

    def __init__(self, faults=(), run_id: str | None = None, keep_run_dir: bool = False):
        super().__init__()
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ConfigError(
                f"unknown local fault {unknown[0]!r}: choose from {', '.join(sorted(FAULTS))}"
            )
        self.faults = sorted(faults)
        self.run_id = run_id or new_run_id()
        self.keep_run_dir = keep_run_dir
        self.run_dir: Path | None = None
        self.supervisor: processes.Supervisor | None = None
        self.diagnostics_dir: Path | None = None
        self._versions: dict[str, str] = {}
        self._ports: dict[str, int] = {}
        self._gw_env: envs.PythonEnv | None = None
        self.settings = json.loads((resources.LOCAL_CLUSTER / "gateway.json").read_text())
        self.capabilities.process_view = True
        self.capabilities.destructive_allowed = True
        self.capabilities.can_restart_gateway = True
        self.capabilities.has_hub = True
        self.notes.extend(f"seeded fault {f}: {FAULTS[f]}" for f in self.faults)

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
        proxy = envs.ensure_proxy(progress)
        span.mark("environments_ready")
        self.notes.append(
            "proxy: configurable-http-proxy from npm"
            if proxy.kind == "npm"
            else "proxy: PyPI configurable-http-proxy drop-in (npm unavailable; no SSL/metrics)"
        )
        self.run_dir = Path(tempfile.mkdtemp(prefix=f"eg-harness-{self.run_id}-"))
        # Lets `eg-harness down` remove the dir of a run that was killed with -9.
        (self.run_dir / processes.OWNER_FILE).write_text(str(os.getpid()))
        self.supervisor = processes.Supervisor(
            self.run_id, self.run_dir / "logs", marker=str(self.run_dir)
        )
        try:
            self._start_gateway(gw_env, progress)
            span.mark("gateway_ready")
            self._start_proxy(proxy, progress)
            span.mark("proxy_ready")
            self._start_hub(hub_env, progress)
            span.mark("hub_ready")
        except BaseException as exc:
            recorder.record(span.finish(False, str(exc)[:300]))
            self.teardown()
            raise
        recorder.record(span.finish(True))
        self._offer_spark(gw_env)
        self._versions.update(
            {
                "configurable-http-proxy": f"{proxy.version} ({proxy.kind})",
                "jupyter_server (user servers)": hub_env.version_of("jupyter_server") or "?",
                "jupyterlab (user servers)": hub_env.version_of("jupyterlab") or "?",
                "ipykernel (gateway kernels)": gw_env.version_of("ipykernel") or "?",
            }
        )

    def _offer_spark(self, gw_env: envs.PythonEnv) -> None:
        """The spark suite's view of the local Spark kernelspec and the hub's profile choices."""
        java = shutil.which("java", path=_java_path())
        if java is None:
            self.notes.append(
                "Spark kernels unavailable: no java on PATH or in JAVA_HOME "
                "(install a Java 17 runtime, e.g. apt-get install openjdk-17-jre-headless)"
            )
            return
        profile = json.loads((resources.LOCAL_CLUSTER / "hub" / "spark_profile.json").read_text())
        options = profile["options"]
        first = {name: next(iter(o["choices"])) for name, o in options.items()}
        choices = [
            SparkChoice(
                memory,
                cpus,
                {
                    **first,
                    "profile": profile["profile"],
                    "driver_memory": memory,
                    "driver_cores": cpus,
                },
            )
            for memory in options["driver_memory"]["choices"]
            for cpus in options["driver_cores"]["choices"]
        ]
        physical_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
        self.spark = SparkEndpoint(
            kernelspec=SPARK_KERNELSPEC,
            choices=choices,
            launch_timeout=SPARK_LAUNCH_TIMEOUT,
            free_memory_option="driver_memory",
            oversize_memory=f"{int(physical_gib * 4) + 1}g",
            local_mode=True,
            recorded={
                "image": first["image"],
                "image_note": options["image"]["choices"][first["image"]],
            },
        )
        self.capabilities.has_spark = True
        self.notes.append(
            f"spark profile image choice {first['image']!r} is recorded only: the local driver "
            "is pyspark's own"
        )
        self._versions["pyspark (driver)"] = gw_env.version_of("pyspark") or "?"

    def _base_env(self, name: str) -> dict[str, str]:
        """A clean environment: nothing from the user's ~/.jupyter leaks into a component."""
        assert self.run_dir is not None
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

    def _start_gateway(self, gw_env: envs.PythonEnv, progress) -> None:
        endpoint, _proc = self._launch_gateway(gw_env, progress, "gateway", {})
        self.gateway = endpoint
        modes = [_PROXY_FAULTS[f] for f in self.faults if f in _PROXY_FAULTS]
        if modes:
            self._start_fault_proxy(self._ports["gateway"], modes[0], endpoint.token, progress)

    def _launch_gateway(
        self, gw_env: envs.PythonEnv, progress, name: str, overrides: dict[str, str]
    ) -> tuple[GatewayEndpoint, processes.ManagedProcess]:
        assert self.run_dir and self.supervisor
        port = ports.free_port()
        self._ports[name] = port
        token = new_token()
        share = self.run_dir / "gateway" / "share" / "jupyter"
        specs = (
            self._render_kernelspecs(share / "kernels", gw_env)
            if name == "gateway"
            else sorted(p.name for p in (share / "kernels").iterdir())
        )
        env = self._base_env("gateway")
        env.update(self.settings["env"])
        env["JUPYTER_PATH"] = str(share)
        # The local stand-ins for what a Kubernetes deployment's EG does (see eg_extensions/).
        env["PYTHONPATH"] = str(resources.LOCAL_CLUSTER / "eg_extensions")
        env["EG_KERNEL_LOG_DIR"] = str(self.run_dir / "logs")
        env["EG_RESPONSE_IP"] = "127.0.0.1"
        # The Spark driver's scratch space stays inside the run dir, so teardown removes it.
        for scratch in ("spark-local", "spark-warehouse", "tmp"):
            (self.run_dir / "gateway" / scratch).mkdir(parents=True, exist_ok=True)
        if "gateway_no_token" not in self.faults:
            env["EG_AUTH_TOKEN"] = token
        # The policy the deployment is meant to enforce; a fault changes only what EG is told.
        unauthorized = [u for u in env["EG_UNAUTHORIZED_USERS"].split(",") if u]
        if "gateway_allows_root" in self.faults:
            env["EG_UNAUTHORIZED_USERS"] = "nobody-at-all"
        if "gateway_max_kernels" in self.faults:
            env["EG_MAX_KERNELS"] = "2"
        env.update(overrides)
        config = self.run_dir / "gateway" / f"{name}_config.py"
        config.write_text(
            f"c.EnterpriseGatewayApp.allowed_kernels = {sorted(specs)!r}\n"
            "c.EnterpriseGatewayApp.default_kernel_name = 'python3'\n"
            "c.KernelSpecManager.ensure_native_kernel = False\n"
        )
        argv = [
            gw_env.bin("jupyter-enterprisegateway"),
            "--ip=127.0.0.1",
            f"--port={port}",
            "--port_retries=0",
            f"--config={config}",
        ]
        shown = f" ({', '.join(f'{k}={v}' for k, v in overrides.items())})" if overrides else ""
        progress(f"starting Enterprise Gateway{shown} on 127.0.0.1:{port}")
        proc = self.supervisor.start(name, argv, env=env, cwd=self.run_dir / "gateway")
        url = f"http://127.0.0.1:{port}"
        endpoint = GatewayEndpoint(
            url=url,
            token=token,
            kernelspec="python3",
            launch_timeout=float(self.settings["launch_timeout"]),
            ws_ping_interval=float(env["EG_WS_PING_INTERVAL_SECS"]),
            unauthorized_users=unauthorized,
        )

        def ready():
            r = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5)
            return r.status_code == 200 and r.json()

        info = self._wait_component("Enterprise Gateway", proc, ready, url)
        self._versions["enterprise_gateway"] = info.get("gateway_version", "?")
        self._versions["jupyter_server (gateway)"] = info.get("version", "?")
        return endpoint, proc

    @contextlib.contextmanager
    def limited_gateway(self, *, max_kernels: int | None = None, per_user: int | None = None):
        """A second gateway of this run with kernel limits, for the limits scenario; the main
        gateway stays unlimited so no other suite meets a 403 it did not ask for."""
        assert self.supervisor is not None and self._gw_env is not None
        overrides = {}
        if max_kernels is not None:
            overrides["EG_MAX_KERNELS"] = str(max_kernels)
        if per_user is not None:
            overrides["EG_MAX_KERNELS_PER_USER"] = str(per_user)
        if "gateway_limit_unset" in self.faults:
            overrides = {}
        endpoint, proc = self._launch_gateway(
            self._gw_env, lambda _m: None, "gateway-limited", overrides
        )
        try:
            yield endpoint
        finally:
            self.supervisor.stop(proc)

    def _start_fault_proxy(self, upstream: int, mode: str, token: str, progress) -> None:
        """Everyone (harness and hub) reaches the gateway through the faulty proxy."""
        assert self.supervisor and self.gateway
        port = ports.free_port()
        self._ports["fault_proxy"] = port
        argv = [
            sys.executable,
            "-m",
            "eg_harness.targets.local.faultproxy",
            f"--listen={port}",
            f"--upstream={upstream}",
            f"--mode={mode}",
        ]
        progress(f"seeding fault: {mode} proxy in front of the gateway on 127.0.0.1:{port}")
        env = self._base_env("fault-proxy")
        proc = self.supervisor.start("fault-proxy", argv, env=env)
        url = f"http://127.0.0.1:{port}"

        def ready():
            r = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5)
            return r.status_code == 200

        self._wait_component("fault proxy", proc, ready, url)
        self.gateway.url = url

    def _render_kernelspecs(self, dest: Path, gw_env: envs.PythonEnv) -> list[str]:
        names = []
        for spec_dir in sorted((resources.LOCAL_CLUSTER / "kernelspecs").iterdir()):
            if not (spec_dir / "kernel.json").exists():
                continue
            out = dest / spec_dir.name
            shutil.copytree(spec_dir, out)
            text = (spec_dir / "kernel.json").read_text()
            if spec_dir.name == "python3" and "gateway_slow_start" in self.faults:
                text = text.replace(
                    '"{gateway_python}",',
                    '"{gateway_python}", "{launchers}/slow_start.py", "2.0", "{gateway_python}",',
                    1,
                )
            if spec_dir.name == SPARK_KERNELSPEC and "spark_ignores_memory" in self.faults:
                text = text.replace(
                    '"{launchers}/run_spark.py",',
                    '"{launchers}/run_spark.py", "--ignore-kernel-memory",',
                )
            for key, value in {
                "{gateway_python}": gw_env.python,
                "{launchers}": str(resources.LOCAL_CLUSTER / "launchers"),
                "{run_dir}": str(self.run_dir),
            }.items():
                text = text.replace(key, value)
            (out / "kernel.json").write_text(text)
            names.append(spec_dir.name)
        return names

    def _start_proxy(self, proxy: envs.ProxyInstall, progress) -> None:
        assert self.run_dir and self.supervisor
        public, api, hub = ports.free_port(), ports.free_port(), ports.free_port()
        self._ports.update(proxy=public, proxy_api=api, hub=hub)
        self._proxy_token = new_token()
        env = self._base_env("proxy")
        env["CONFIGPROXY_AUTH_TOKEN"] = self._proxy_token
        argv = [
            *proxy.argv,
            "--ip=127.0.0.1",
            f"--port={public}",
            "--api-ip=127.0.0.1",
            f"--api-port={api}",
            f"--default-target=http://127.0.0.1:{hub}",
            f"--error-target=http://127.0.0.1:{hub}/hub/error",
        ]
        progress(f"starting configurable-http-proxy on 127.0.0.1:{public}")
        proc = self.supervisor.start("proxy", argv, env=env, cwd=self.run_dir / "proxy")
        api_url = f"http://127.0.0.1:{api}"

        def ready():
            r = httpx.get(
                f"{api_url}/api/routes",
                headers={"Authorization": f"token {self._proxy_token}"},
                timeout=5,
            )
            return r.status_code == 200

        self._wait_component("configurable-http-proxy", proc, ready, api_url)

    def _start_hub(self, hub_env: envs.PythonEnv, progress) -> None:
        assert self.run_dir and self.supervisor and self.gateway
        service_token = new_token()
        env = self._base_env("hub")
        env["PATH"] = f"{hub_env.path / 'bin'}:{env.get('PATH', '')}"
        env.update(
            EGH_RUN_DIR=str(self.run_dir / "hub"),
            EGH_FAULTS=",".join(self.faults),
            EGH_GATEWAY_URL=self.gateway.url,
            EGH_GATEWAY_TOKEN=self.gateway.token or "",
            EGH_PROXY_PORT=str(self._ports["proxy"]),
            EGH_PROXY_API_URL=f"http://127.0.0.1:{self._ports['proxy_api']}",
            EGH_PROXY_TOKEN=self._proxy_token,
            EGH_HUB_PORT=str(self._ports["hub"]),
            EGH_SERVICE_TOKEN=service_token,
            EGH_SINGLEUSER=hub_env.bin("jupyterhub-singleuser"),
            EG_HARNESS_RUN_ID=self.run_id,
            EG_HARNESS_OWNER_PID=str(os.getpid()),
        )
        config = resources.LOCAL_CLUSTER / "hub" / "jupyterhub_config.py"
        argv = [hub_env.python, "-m", "jupyterhub", "-f", str(config)]
        progress(f"starting JupyterHub on 127.0.0.1:{self._ports['hub']} behind the proxy")
        proc = self.supervisor.start("hub", argv, env=env, cwd=self.run_dir / "hub")
        public = f"http://127.0.0.1:{self._ports['proxy']}"

        def ready():
            r = httpx.get(
                f"{public}/hub/api/users",
                headers={"Authorization": f"token {service_token}"},
                timeout=5,
            )
            return r.status_code == 200

        self._wait_component("JupyterHub (through the proxy)", proc, ready, public)
        info = httpx.get(f"{public}/hub/api/", timeout=5).json()
        self._versions["jupyterhub"] = info.get("version", "?")
        self.hub = HubEndpoint(url=public, api_token=service_token)

    def _wait_component(self, name: str, proc: processes.ManagedProcess, ready, url: str):
        def check():
            if not proc.alive():
                raise _Exited()
            return ready()

        try:
            return wait_for(f"{name} to answer at {url}", check, READY_TIMEOUT, interval=0.1)
        except _Exited:
            raise TargetUnavailable(
                f"{name} exited with code {proc.popen.returncode} before it was ready; "
                f"last log lines:\n{proc.tail()}"
            ) from None
        except WaitTimeout as exc:
            raise TargetUnavailable(f"{exc}; last log lines of {name}:\n{proc.tail()}") from None

    # -- what scenarios may ask ------------------------------------------------------------
    def versions(self) -> dict[str, str]:
        return dict(self._versions)

    def conformance_kernelspecs(self) -> list[str]:
        return ["python3", "python3_launcher"]

    def hanging_kernelspec(self) -> str | None:
        return "never_ready"

    def gateway_pid(self) -> int | None:
        if not self.supervisor:
            return None
        return next((p.pid for p in self.supervisor.procs if p.name == "gateway"), None)

    def hub_pid(self) -> int | None:
        if not self.supervisor:
            return None
        return next((p.pid for p in self.supervisor.procs if p.name == "hub"), None)

    def run_processes(self) -> list[psutil.Process]:
        """Every live process of this run: components, user servers, kernels, launchers."""
        return processes.run_processes(self.run_id, str(self.run_dir) if self.run_dir else None)

    def kernel_pid(self, kernel_id: str) -> int | None:
        """Find the kernel by its connection file, anywhere among this run's processes."""
        needle = f"kernel-{kernel_id}.json"
        for p in self.run_processes():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if any(needle in arg for arg in p.cmdline()):
                    return p.pid
        return None

    # -- teardown --------------------------------------------------------------------------
    def teardown(self) -> dict[str, list[str]]:
        left: dict[str, list[str]] = {"processes": [], "ports": []}
        span = Span("target_teardown", {"target": "local"}, test="(session)")
        span.mark("requested")
        if self.supervisor is not None:
            left["processes"] = self.supervisor.stop_all()
            span.mark("stopped")
            recorder.record(span.finish(not left["processes"]))
        left["ports"] = [f"{n}:{p}" for n, p in self._ports.items() if ports.port_in_use(p)]
        if self.run_dir is not None:
            if self.diagnostics_dir is not None:
                self.collect_diagnostics(self.diagnostics_dir)
            if not self.keep_run_dir:
                shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir = None
        self.supervisor = None
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


def _java_path() -> str:
    java_home = os.environ.get("JAVA_HOME")
    extra = [os.path.join(java_home, "bin")] if java_home else []
    return os.pathsep.join([*extra, os.environ.get("PATH", os.defpath)])


class _Exited(Exception):
    pass
