"""Idle culling on the gateway: an idle kernel nobody is connected to is culled at its timeout;
a connected one only when `cull_connected` says so.

EG inherits jupyter_server 1.x's culler (`RemoteMappingKernelManager.cull_idle_timeout`,
`cull_interval`, `cull_connected`, default False). The scenario runs on the culling stack
(conftest.py), whose gateway culls after a few seconds; the kernel models' `last_activity` and
`connections` are the evidence.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.collector import state_of
from eg_harness.runtime.waits import wait_for

pytestmark = [pytest.mark.destructive, pytest.mark.own_stack]


@pytest.fixture
def gw(culling_stack, request):
    clients = state_of(request.config).clients
    client = culling_stack.gateway.client()
    clients.append(client)
    yield client
    if culling_stack.component_pid("gateway") is None:  # a failed scenario left it down
        culling_stack.start_component("gateway")
    client.cleanup()
    clients.remove(client)
    client.close()


def _model(gw, kernel_id: str) -> dict | None:
    try:
        return gw.get_kernel(kernel_id)
    except GatewayHTTPError as exc:
        if exc.status == 404:
            return None
        raise


def _idle_s(model: dict) -> float:
    last = datetime.fromisoformat(model["last_activity"].replace("Z", "+00:00"))
    return (datetime.now(timezone.utc) - last).total_seconds()


def _culled(gw, kernel_id: str, bound: float) -> float:
    t0 = time.monotonic()
    wait_for(
        f"the culler to reap idle kernel {kernel_id}", lambda: _model(gw, kernel_id) is None, bound
    )
    gw.created.remove(kernel_id)
    return time.monotonic() - t0


def test_idle_disconnected_kernel_is_culled_connected_one_kept(gw, culling, finding):
    """cull_connected=False (the default): the disconnected kernel goes, the connected stays."""
    loose = gw.launch("python3")
    loose.channels.close()
    held = gw.launch("python3")
    try:
        bound = 3 * (culling.idle_timeout + culling.interval) + 30
        culled = _culled(gw, loose.id, bound)
        # The connected kernel must have been idle past the timeout and a few culler rounds.
        wait_for(
            "the connected kernel to be idle past the timeout and two culler rounds",
            lambda: (
                (m := _model(gw, held.id)) is None
                or _idle_s(m) > culling.idle_timeout + 2 * culling.interval
            ),
            bound,
        )
        model = _model(gw, held.id)
        assert model is not None, (
            f"kernel {held.id}, idle with a client connected was culled: the gateway culls "
            "connected kernels (cull_connected should stay False)"
        )
        assert model.get("connections", 0) >= 1, f"the held kernel shows no connection: {model}"
        finding(
            "idle culling, cull_connected=False (default)",
            f"an idle disconnected kernel culled; a connected one idle {_idle_s(model):.0f}s kept",
            f"culled {culled:.1f}s after launch (cull_idle_timeout {culling.idle_timeout:g}s, "
            f"cull_interval {culling.interval:g}s)",
            "correct",
        )
    finally:
        held.close()


def test_cull_connected_culls_an_idle_connected_kernel(culling_stack, gw, culling, finding):
    """cull_connected=True: an idle kernel is culled even with a client connected."""
    culling_stack.stop_component("gateway", timeout=60)
    culling_stack.start_component(
        "gateway", config={"RemoteMappingKernelManager.cull_connected": True}
    )
    try:
        held = gw.launch("python3")
        try:
            culled = _culled(gw, held.id, 3 * (culling.idle_timeout + culling.interval) + 30)
        finally:
            held.channels.close()
        finding(
            "idle culling, cull_connected=True",
            "an idle kernel with a client connected was culled",
            f"culled {culled:.1f}s after launch",
            "correct",
        )
    finally:
        culling_stack.stop_component("gateway", timeout=60)
        culling_stack.start_component(
            "gateway", config={"RemoteMappingKernelManager.cull_connected": None}
        )
