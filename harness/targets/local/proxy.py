"""The proxies of the local stack: configurable-http-proxy in front of the hub, and the fault
proxy (faultproxy.py) that a proxy-mode fault puts in front of the gateway."""

from __future__ import annotations

import sys

import httpx
from eg_harness.runtime import envs, ports
from eg_harness.runtime.secrets import new_token
from eg_harness.targets.local.components import LocalRun


def start_chp(run: LocalRun, proxy: envs.ProxyInstall, progress, token: str | None = None) -> str:
    """Start configurable-http-proxy on fresh ports (the hub's port reserved too), or on the
    same ports with the same API `token` when it is started again (a restart in place);
    returns the token, which the hub needs."""
    if "proxy" not in run.ports:
        run.ports.update(proxy=ports.free_port(), proxy_api=ports.free_port())
        run.ports.update(hub=ports.free_port())
    public, api, hub = run.ports["proxy"], run.ports["proxy_api"], run.ports["hub"]
    token = token or new_token()
    env = run.env("proxy")
    env["CONFIGPROXY_AUTH_TOKEN"] = token
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
    proc = run.supervisor.start("proxy", argv, env=env, cwd=run.run_dir / "proxy")
    api_url = f"http://127.0.0.1:{api}"

    def ready():
        r = httpx.get(
            f"{api_url}/api/routes", headers={"Authorization": f"token {token}"}, timeout=5
        )
        return r.status_code == 200

    run.wait_ready("configurable-http-proxy", proc, ready, api_url)
    return token


def start_fault_proxy(run: LocalRun, upstream: int, mode: str, token: str, progress) -> str:
    """Put the faulty proxy in front of the gateway; returns the URL everyone (harness and hub)
    must use instead of the gateway's own."""
    port = ports.free_port()
    run.ports["fault_proxy"] = port
    argv = [
        sys.executable,
        "-m",
        "eg_harness.targets.local.faultproxy",
        f"--listen={port}",
        f"--upstream={upstream}",
        f"--mode={mode}",
    ]
    progress(f"seeding fault: {mode} proxy in front of the gateway on 127.0.0.1:{port}")
    proc = run.supervisor.start("fault-proxy", argv, env=run.env("fault-proxy"))
    url = f"http://127.0.0.1:{port}"

    def ready():
        r = httpx.get(f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5)
        return r.status_code == 200

    run.wait_ready("fault proxy", proc, ready, url)
    return url
