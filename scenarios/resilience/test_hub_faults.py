"""The hub killed, the proxy restarted, a user server killed: on a stack of its own.

Upstream facts (JupyterHub 6.1 app.py, proxy.py, spawner.py; jupyter_server 2.x serverapp):
- local user servers run in their own session and survive a hub SIGKILL; a restarted hub
  polls them ("still running") and re-adds their routes;
- an external proxy that restarts comes back with no routes: the hub re-adds them only at its
  next `last_activity_interval` check (300 s by default; short here, to time it);
- a user server stopped by the hub shuts its kernels down on the gateway (its
  GatewayMappingKernelManager.shutdown_all); one that is killed cannot, and its kernels stay on
  the gateway until the gateway's culler reaps them.
"""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.clients.hub import HubClient
from eg_harness.fixtures.collector import state_of
from eg_harness.fixtures.hub_users import throwaway_server
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import wait_for

pytestmark = [pytest.mark.destructive, pytest.mark.own_stack, pytest.mark.needs_hub]


@pytest.fixture
def stack(culling_stack):
    return culling_stack


@pytest.fixture
def server(stack, request):
    with throwaway_server(stack, state_of(request.config), request.node.name) as server:
        yield server


def _gateway_status(stack, kernel_id: str) -> int:
    try:
        stack.gateway.client().get_kernel(kernel_id)
        return 200
    except GatewayHTTPError as exc:
        return exc.status


def _server_answers(server) -> bool:
    try:
        return server.client.request("GET", "/api/status", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_hub_killed_while_servers_run(stack, server, finding):
    """Open sessions keep working without the hub; spawns fail clearly; after a restart the
    hub knows the running server again and its route works."""
    handle = server.client.launch(stack.gateway.kernelspec)
    try:
        assert handle.execute("marker = 'kept'").status == "ok"
        stack.stop_component("hub", sig=signal.SIGKILL)
        res = handle.execute("print(marker)")
        assert res.stdout.strip() == "kept", (
            f"an open session broke when the hub died: {res.describe_error()}"
        )
        rest_ok = server.client.list_kernels() is not None  # the server's auth cache
        hub = HubClient(stack.hub.url, stack.hub.api_token, timeout=30)
        t0 = time.monotonic()
        try:
            resp = hub.request("POST", "/users/nobody-while-down/server", json={})
            spawn = f"HTTP {resp.status_code} {clip(resp.text, 100)!r}"
            spawn_code = resp.status_code
        except httpx.HTTPError as exc:
            spawn, spawn_code = f"{type(exc).__name__}: {exc}", None
        spawn_s = time.monotonic() - t0
        assert spawn_code is None or spawn_code >= 500, (
            f"a spawn while the hub is down answered {spawn}: it should fail"
        )
        t0 = time.monotonic()
        stack.start_component("hub")
        servers = (hub.get_user(server.name) or {}).get("servers", {})
        assert servers.get("", {}).get("ready"), (
            f"the restarted hub does not know {server.name}'s running server: {servers}"
        )
        back = wait_for("the user's route through the proxy", lambda: _server_answers(server), 30)
        back_s = time.monotonic() - t0
        hub.close()
        assert back
        assert handle.execute("print(marker)").stdout.strip() == "kept"
        finding(
            "hub killed (SIGKILL) with a user server running",
            f"open kernel session kept working; REST to the user server "
            f"{'worked (auth cache)' if rest_ok else 'failed'}; a spawn got {spawn} "
            f"in {spawn_s:.1f}s; after restart the server and its route were back",
            f"hub and route back {back_s:.1f}s after the restart began",
            "correct",
        )
    finally:
        handle.close()


def test_proxy_restart_routes_come_back(stack, server, finding, culling):
    """A restarted proxy has no routes until the hub's next check re-adds them."""
    assert _server_answers(server)
    stack.stop_component("proxy", sig=signal.SIGKILL)
    t0 = time.monotonic()
    stack.start_component("proxy")
    up = time.monotonic() - t0
    bound = 3 * culling.route_check + 30
    wait_for("the user's route to come back", lambda: _server_answers(server), bound)
    back = time.monotonic() - t0
    finding(
        "proxy restarted (SIGKILL, then started again, empty)",
        f"the user's server unreachable through the proxy until the hub re-added the route "
        f"(last_activity_interval {culling.route_check}s here)",
        f"proxy up in {up:.1f}s; route back after {back:.1f}s",
        "upstream: routes return only at the hub's next check; with JupyterHub's default "
        "last_activity_interval of 300s that is up to 300s (derived, not measured)",
    )


def test_killed_server_leaves_its_kernels_to_the_culler(stack, request, finding, culling):
    """A user server killed (SIGKILL: an OOM kill, a node lost) cannot shut its kernels down:
    they stay on the gateway until its culler reaps them (cull_idle_timeout on this stack).
    A server the hub stops is the lifecycle scenarios' (test_server_lifecycle.py), on every
    target with a hub."""
    state = state_of(request.config)
    with throwaway_server(stack, state, "killed") as server:
        handle = server.client.launch(stack.gateway.kernelspec)
        handle.channels.close()
        pid = _user_server_pid(stack, server.name)
        assert pid, f"cannot find {server.name}'s server process"
        os.kill(pid, signal.SIGKILL)
        t0 = time.monotonic()
        assert _gateway_status(stack, handle.id) == 200, "the killed server's kernel vanished"
        bound = 3 * (culling.idle_timeout + culling.interval) + 30
        wait_for(
            f"the gateway's culler to reap kernel {handle.id}",
            lambda: _gateway_status(stack, handle.id) == 404,
            bound,
        )
        culled = time.monotonic() - t0
        server.client.created.clear()
    finding(
        "user server killed (SIGKILL) with a kernel",
        "its kernel stayed on the gateway until the culler reaped it (cull_idle_timeout "
        f"{culling.idle_timeout}s here)",
        f"reaped {culled:.1f}s after the kill",
        "correct; without culling (EG's default) a killed server's kernels run forever; "
        "EG's image default of 43200s keeps them 12 hours",
    )


def _user_server_pid(stack, user: str) -> int | None:
    for p in stack.run_processes():
        try:
            env = p.environ()
        except Exception:  # noqa: BLE001 - gone or not ours
            continue
        if env.get("JUPYTERHUB_USER") == user and "singleuser" in " ".join(p.cmdline()):
            return p.pid
    return None
