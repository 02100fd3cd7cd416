"""Enterprise Gateway as a local process: its environment, config, kernelspecs and faults."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from eg_harness import resources
from eg_harness.runtime import envs, ports, processes
from eg_harness.runtime.secrets import new_token
from eg_harness.targets.endpoints import GatewayEndpoint
from eg_harness.targets.faults import Fault
from eg_harness.targets.local import kernelspecs, spark_cds
from eg_harness.targets.local.components import LocalRun

SETTINGS = json.loads((resources.LOCAL_CLUSTER / "gateway.json").read_text())


def launch(
    run: LocalRun,
    gw_env: envs.PythonEnv,
    faults: list[Fault],
    progress,
    name: str = "gateway",
    limits: dict[str, str] | None = None,
    *,
    port: int | None = None,
    token: str | None = None,
    extra_env: dict[str, str] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> tuple[GatewayEndpoint, processes.ManagedProcess]:
    """Start one gateway of this run. The first ("gateway") renders the kernelspecs; a second
    (the limited one) shares them and adds `limits` to its environment. A restart passes the
    old `port` and `token` (user servers know both) and may change the environment and the
    traitlets (`extra_env`, e.g. session persistence; `extra_config`, e.g. culling): the
    deployment's choices, applied before the faults so a fault still wins."""
    port = port or ports.free_port()
    run.ports[name] = port
    token = token or new_token()
    share = run.run_dir / "gateway" / "share" / "jupyter"
    placeholders = {
        "{gateway_python}": gw_env.python,
        "{launchers}": str(resources.LOCAL_CLUSTER / "launchers"),
        "{run_dir}": str(run.run_dir),
        spark_cds.PLACEHOLDER: spark_cds.jvm_options(gw_env),
    }
    if name == "gateway":
        # A restart on another release: its kernels run on that release's Python.
        shutil.rmtree(share / "kernels", ignore_errors=True)
        specs = kernelspecs.render(share / "kernels", faults, placeholders)
    else:
        specs = sorted(p.name for p in (share / "kernels").iterdir())
    env = run.env("gateway")
    env.update(SETTINGS["env"])
    env["JUPYTER_PATH"] = str(share)
    # The local stand-ins for what a Kubernetes deployment's EG does (see eg_extensions/).
    env["PYTHONPATH"] = str(resources.LOCAL_CLUSTER / "eg_extensions")
    env["PATH"] = f"{safe_kill_dir(run)}:{env.get('PATH', '')}"
    env["EG_KERNEL_LOG_DIR"] = str(run.run_dir / "logs")
    env["EG_RESPONSE_IP"] = "127.0.0.1"
    # The Spark driver's scratch space stays inside the run dir, so teardown removes it.
    for scratch in ("spark-local", "spark-warehouse", "tmp"):
        (run.run_dir / "gateway" / scratch).mkdir(parents=True, exist_ok=True)
    env["EG_AUTH_TOKEN"] = token
    # The policy the deployment is meant to enforce; a fault changes only what EG is told.
    unauthorized = [u for u in env["EG_UNAUTHORIZED_USERS"].split(",") if u]
    env.update(extra_env or {})
    for fault in faults:
        env.update(fault.gateway_env)
        for key in fault.gateway_env_unset:
            env.pop(key, None)
    env.update(limits or {})
    meant = dict(extra_config or {})
    traits = dict(meant)
    for fault in faults:
        traits.update(fault.gateway_config)
    config = run.run_dir / "gateway" / f"{name}_config.py"
    config.write_text(
        f"c.EnterpriseGatewayApp.allowed_kernels = {sorted(specs)!r}\n"
        "c.EnterpriseGatewayApp.default_kernel_name = 'python3'\n"
        "c.KernelSpecManager.ensure_native_kernel = False\n"
        + "".join(f"c.{trait} = {value!r}\n" for trait, value in sorted(traits.items()))
    )
    wrapper = [kernelspecs.fill(arg, placeholders) for f in faults for arg in f.gateway_argv_prefix]
    argv = [
        *wrapper,
        gw_env.bin("jupyter-enterprisegateway"),
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port_retries=0",
        f"--config={config}",
    ]
    shown = f" ({', '.join(f'{k}={v}' for k, v in limits.items())})" if limits else ""
    progress(f"starting Enterprise Gateway{shown} on 127.0.0.1:{port}")
    proc = run.supervisor.start(name, argv, env=env, cwd=run.run_dir / "gateway")
    url = f"http://127.0.0.1:{port}"
    endpoint = GatewayEndpoint(
        url=url,
        token=token,
        kernelspec="python3",
        launch_timeout=float(SETTINGS["launch_timeout"]),
        ws_ping_interval=float(env["EG_WS_PING_INTERVAL_SECS"]),
        unauthorized_users=unauthorized,
        # The culling the deployment means to have (a fault changes only what EG is told), with
        # jupyter_server 1.x's defaults (EG's): no culling, and a 300 s culler round.
        cull_idle_timeout=float(meant.get(f"{CULLER}.cull_idle_timeout") or 0),
        cull_interval=float(meant.get(f"{CULLER}.cull_interval") or 300),
    )

    def ready():
        r = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5)
        return r.status_code == 200 and r.json()

    info = run.wait_ready("Enterprise Gateway", proc, ready, url)
    run.versions["enterprise_gateway"] = info.get("gateway_version", "?")
    run.versions["jupyter_server (gateway)"] = info.get("version", "?")
    return endpoint, proc


CULLER = "RemoteMappingKernelManager"  # the traitlets class whose culling EG applies


def limits_for(faults: list[Fault], max_kernels: int | None, per_user: int | None) -> dict:
    """The limited gateway's environment; a `limits_unset` fault leaves it without limits."""
    if any(f.limits_unset for f in faults):
        return {}
    limits = {}
    if max_kernels is not None:
        limits["EG_MAX_KERNELS"] = str(max_kernels)
    if per_user is not None:
        limits["EG_MAX_KERNELS_PER_USER"] = str(per_user)
    return limits


SAFE_KILL = """#!/bin/sh
# EG 3.3 signals a kernel it has no process handle for (one revived from a persisted session)
# with `kill -<signal> -<pgid>` (processproxy.local_signal). procps-ng 4.0.x's kill reads
# "-<pgid>" as an option and signals pid -1: every process the user may signal, the whole
# machine for root. Ending the options first keeps the meaning EG intends.
sig="$1"
shift
exec {real} "$sig" -- "$@"
"""


def safe_kill_dir(run: LocalRun) -> Path:
    """A directory whose `kill` passes "--" before the pid, first on the gateway's PATH."""
    real = shutil.which("kill") or "/bin/kill"
    bindir = run.run_dir / "gateway" / "bin"
    bindir.mkdir(parents=True, exist_ok=True)
    shim = bindir / "kill"
    shim.write_text(SAFE_KILL.replace("{real}", real))
    shim.chmod(0o755)
    return bindir
