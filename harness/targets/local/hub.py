"""JupyterHub as a local process behind the proxy; faults reach its config as a JSON of hub
settings (EGH_HUB_SETTINGS), never as fault names the config would have to know."""

from __future__ import annotations

import json
import os
import subprocess

import httpx
from eg_harness import resources
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime import envs
from eg_harness.runtime.secrets import new_token
from eg_harness.targets.endpoints import GatewayEndpoint, HubEndpoint
from eg_harness.targets.faults import Fault
from eg_harness.targets.local.components import LocalRun

# The user servers' grace period on stop (KubeSpawner's delete_grace_period, 1 s by default):
# 10 s on the local stacks, so a server on this shared, often loaded machine finishes deleting
# its kernels on the gateway before its SIGKILL, and the lifecycle scenarios' verdict does not
# flip with the load (their stop took 1.0-1.3 s, the kernels gone 0.1-0.5 s into it, at load
# 2-5). What KubeSpawner's 1 s does to a deployment is what a run against it measures.
SERVER_GRACE_S = 10


def start(
    run: LocalRun,
    hub_env: envs.PythonEnv,
    gateway: GatewayEndpoint,
    proxy_token: str,
    faults: list[Fault],
    progress,
    *,
    service_token: str | None = None,
    extra_settings: dict | None = None,
    upgrade_db: bool = False,
) -> HubEndpoint:
    """Start the hub. A restart passes the old `service_token` (so clients keep working) and
    may migrate the database first, as an operator runs `jupyterhub upgrade-db` before a new
    major release."""
    service_token = service_token or new_token()
    settings: dict = {"delete_grace_period": SERVER_GRACE_S, **(extra_settings or {})}
    for fault in faults:
        settings.update(fault.hub_settings)
    env = run.env("hub")
    env["PATH"] = f"{hub_env.path / 'bin'}:{env.get('PATH', '')}"
    env.update(
        EGH_RUN_DIR=str(run.run_dir / "hub"),
        EGH_HUB_SETTINGS=json.dumps(settings),
        EGH_GATEWAY_URL=gateway.url,
        EGH_GATEWAY_TOKEN=gateway.token or "",
        EGH_PROXY_PORT=str(run.ports["proxy"]),
        EGH_PROXY_API_URL=f"http://127.0.0.1:{run.ports['proxy_api']}",
        EGH_PROXY_TOKEN=proxy_token,
        EGH_HUB_PORT=str(run.ports["hub"]),
        EGH_SERVICE_TOKEN=service_token,
        EGH_SINGLEUSER=hub_env.bin("jupyterhub-singleuser"),
        EG_HARNESS_RUN_ID=run.run_id,
        EG_HARNESS_OWNER_PID=str(os.getpid()),
    )
    config = resources.LOCAL_CLUSTER / "hub" / "jupyterhub_config.py"
    if upgrade_db:
        progress("jupyterhub upgrade-db (the hub's database migration)")
        proc = subprocess.run(
            [hub_env.python, "-m", "jupyterhub", "upgrade-db", "-f", str(config)],
            env=env,
            cwd=run.run_dir / "hub",
            capture_output=True,
            text=True,
            timeout=300,
        )
        log = run.run_dir / "logs" / "hub-upgrade-db.log"
        log.write_text(proc.stdout + proc.stderr)
        if proc.returncode != 0:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise TargetUnavailable(f"jupyterhub upgrade-db failed: {tail[0]}")
    argv = [hub_env.python, "-m", "jupyterhub", "-f", str(config)]
    progress(f"starting JupyterHub on 127.0.0.1:{run.ports['hub']} behind the proxy")
    proc = run.supervisor.start("hub", argv, env=env, cwd=run.run_dir / "hub")
    public = f"http://127.0.0.1:{run.ports['proxy']}"

    def ready():
        r = httpx.get(
            f"{public}/hub/api/users",
            headers={"Authorization": f"token {service_token}"},
            timeout=5,
        )
        return r.status_code == 200

    run.wait_ready("JupyterHub (through the proxy)", proc, ready, public)
    info = httpx.get(f"{public}/hub/api/", timeout=5).json()
    run.versions["jupyterhub"] = info.get("version", "?")
    grace = float(settings["delete_grace_period"])
    return HubEndpoint(url=public, api_token=service_token, delete_grace_period=grace)
