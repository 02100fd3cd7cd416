"""The lifecycle paths users take every day, on the harness's own user, server and kernels only.

Nothing here stops, kills or reconfigures a component: each scenario makes a throw-away hub
user, spawns its server, starts kernels through it and then does what the hub does to that one
server (stop it with its kernels live, as the stop button and jupyterhub-idle-culler do; stop
and start it again) or lets its own kernel idle past the gateway's culling. So they run on every
target with a hub, an existing deployment included, on the run's shared stack, and report what
that deployment did: which kernels it left behind and for how long, the stop it took, the
grace period and culling it showed. A kernel that outlives its user's stopped server fails,
naming the kernels and the fix (eg_harness.checks.lifecycle); the harness's own clean-up still
removes what is left, after the findings table recorded it.

What needs control of the components (a server or gateway killed or hung, the hub or proxy
restarted) stays in the destructive scenarios beside this file, on stacks of their own.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from eg_harness.checks import lifecycle
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.collector import state_of
from eg_harness.fixtures.hub_users import created_user, spawned_server
from eg_harness.kernel.channels import ChannelsError
from eg_harness.runtime.waits import wait_for

STOP_TIMEOUT = 90.0  # the hub's stop of one server, on a busy machine (bounds only)


def _status(gateway, kernel_id: str) -> int:
    """The gateway's answer for one kernel: 200 while it runs, 404 once it is gone."""
    try:
        gateway.get_kernel(kernel_id)
        return 200
    except GatewayHTTPError as exc:
        return exc.status


def _quietly(what: str, check, timeout: float):
    """`check`'s truthy value within `timeout`, or False: for facts recorded, not asserted."""
    try:
        return wait_for(what, check, timeout, max_interval=0.5)
    except AssertionError:
        return False


class GatewayWatch:
    """When each kernel stopped answering at the gateway, in seconds from the stop request."""

    def __init__(self, gateway, kernels: dict[str, str]) -> None:
        self.gateway = gateway
        self.kernels = kernels  # id -> kernelspec
        self.t0 = time.monotonic()
        self.gone: dict[str, float] = {}

    def poll(self) -> bool:
        for kernel_id in self.kernels:
            if kernel_id not in self.gone and _status(self.gateway, kernel_id) == 404:
                self.gone[kernel_id] = time.monotonic() - self.t0
        return len(self.gone) == len(self.kernels)

    def facts(self, user: str, stop_s: float, target) -> lifecycle.StopFacts:
        return lifecycle.StopFacts(
            user=user,
            stop_s=stop_s,
            watched_s=time.monotonic() - self.t0,
            kernels=tuple(
                lifecycle.KernelAfterStop(k, spec, self.gone.get(k))
                for k, spec in self.kernels.items()
            ),
            grace_period=target.hub.delete_grace_period,
            cull_idle_timeout=target.gateway.cull_idle_timeout,
            cull_interval=target.gateway.cull_interval,
        )


def stop_and_watch(server, gateway, target) -> lifecycle.StopFacts:
    """Stop `server` through the hub while the gateway is watched for its kernels; after the
    stop, wait for the gateway's culler only where the target says it acts within the run."""
    kernels = {k: target.gateway.kernelspec or "python3" for k in server.client.created}
    watch = GatewayWatch(gateway, kernels)
    with ThreadPoolExecutor(1) as pool:
        stopping = pool.submit(server.stop, STOP_TIMEOUT, gateway)
        ended: list[float] = []

        def settled() -> bool:
            everything_gone = watch.poll()
            if not stopping.done():
                return False
            if stopping.exception() is not None:
                return True  # raised below, with the hub's answer
            if not ended:
                ended.append(time.monotonic())
            return everything_gone or time.monotonic() - ended[0] >= lifecycle.SETTLE_S

        wait_for(
            f"{server.name}'s server to stop and its kernels to settle",
            settled,
            STOP_TIMEOUT + lifecycle.SETTLE_S + 30,
            max_interval=0.2,
        )
        stopping.result()
    stop_s = ended[0] - watch.t0
    bound = lifecycle.culler_fits(target.gateway.cull_idle_timeout, target.gateway.cull_interval)
    if bound is not None and not watch.poll():
        _quietly(
            "the gateway's culler to reap what the stop left",
            watch.poll,
            lifecycle.culler_wait(bound),
        )
    return watch.facts(server.name, stop_s, target)


def remove_left(gateway, facts: lifecycle.StopFacts) -> str:
    """The harness's own clean-up of what the stop left, after it was recorded."""
    left = [k.kernel_id for k in facts.outlived() if k.gone_s is None]
    removed = [k for k in left if gateway.shutdown_quietly(k)]
    if not left:
        return ""
    return f"; the harness deleted {len(removed)} of the {len(left)} left"


@pytest.mark.needs_hub
def test_stopped_server_leaves_no_kernel_on_the_gateway(
    hub, target, gateway, request, finding, run_state
):
    """My server stopped by the hub with two live kernels (one with a notebook's WebSocket
    open, one idle and disconnected): every kernel must be gone from the gateway by the time
    the server is."""
    state = state_of(request.config)
    spec = target.gateway.kernelspec or "python3"
    with (
        created_user(hub, target, state, request.node.name) as user,
        spawned_server(hub, user, target, state) as server,
    ):
        held = server.client.launch(spec)
        assert held.execute("marker = 'live'").status == "ok"
        loose = server.client.launch(spec)
        loose.channels.close()
        try:
            facts = stop_and_watch(server, gateway, target)
        finally:
            held.channels.close()
    verdict = lifecycle.failure(facts)
    cleanup = remove_left(gateway, facts)
    grace = (
        f"grace period {facts.grace_period:g}s"
        if facts.grace_period is not None
        else "grace period not known"
    )
    run_state.metric("user_server_stop_s", facts.stop_s, "s", kernels=len(facts.kernels))
    finding(
        "user server stopped by the hub with 2 live kernels (the hub's stop, as the idle "
        "culler does)",
        lifecycle.describe_kernels(facts) + cleanup,
        f"stop took {facts.stop_s:.1f}s ({grace}); "
        + lifecycle.culling_text(facts.cull_idle_timeout, facts.cull_interval),
        "kernels outlived the server" if verdict else "correct",
    )
    if verdict is not None:
        raise AssertionError(verdict)


@pytest.mark.needs_hub
def test_my_kernel_after_my_server_restarts(hub, target, gateway, request, finding):
    """My server stopped and started again by the hub while a notebook has a kernel open: what
    the notebook's WebSocket sees, whether its kernel can be reached through the new server,
    and that a new kernel works there. The old kernel may be gone (jupyter_server shuts its
    kernels down on stop and a new server adopts none) or reachable with its state; running on
    the gateway but unreachable, it is an orphan and fails."""
    state = state_of(request.config)
    spec = target.gateway.kernelspec or "python3"
    with created_user(hub, target, state, request.node.name) as user:
        with spawned_server(hub, user, target, state) as first:
            handle = first.client.launch(spec)
            assert handle.execute("marker = 'before the restart'").status == "ok"
            facts = stop_and_watch(first, gateway, target)
            try:
                handle.execute("print(marker)", timeout=10)
                socket = "the open WebSocket still answered after the stop"
            except ChannelsError as exc:
                socket = f"the open WebSocket ended ({type(exc).__name__})"
            handle.channels.close()
        t0 = time.monotonic()
        with spawned_server(hub, user, target, state) as second:
            spawn_s = time.monotonic() - t0
            try:
                second.client.get_kernel(handle.id)
                through = 200
            except GatewayHTTPError as exc:
                through = exc.status
            at_gateway = _status(gateway, handle.id)
            marker = None
            if through == 200:
                chans = second.client.channels(handle.id)
                try:
                    chans.wait_ready(second.client.launch_timeout)
                    marker = chans.execute("print(marker)").stdout.strip()
                except (ChannelsError, httpx.HTTPError) as exc:
                    marker = f"unreachable ({type(exc).__name__})"
                finally:
                    chans.close()
            fresh = second.client.launch(spec)
            res = fresh.execute("print(6 * 7)")
            usable_s = time.monotonic() - t0
            assert res.stdout.strip() == "42", (
                f"a new kernel through {user}'s restarted server did not work: "
                f"{res.describe_error()}"
            )
    # Outlived: still on the gateway after the stop, unreachable through the new server (a
    # later cull does not excuse it: the user could not reach it, and it held its resources).
    left = bool(facts.outlived()) and through != 200
    cleanup = remove_left(gateway, facts)
    if through == 200:
        saw = f"the old kernel reachable through the new server, marker {marker!r}"
    elif not facts.outlived():
        saw = "the old kernel gone with the server (HTTP 404 through the new server and at the "
        saw += "gateway): state lost"
    else:
        saw = (
            f"the old kernel outlived the stop ({lifecycle.describe_kernels(facts)}), HTTP "
            f"{through} through the new server and {at_gateway} at the gateway after the "
            f"restart{cleanup}"
        )
    finding(
        "user server restarted by the hub (stop, spawn) with a notebook's kernel open",
        f"{socket}; {saw}; a new kernel through the new server works",
        f"stop {facts.stop_s:.1f}s; new server {spawn_s:.1f}s; new kernel usable "
        f"{usable_s:.1f}s after the spawn request",
        "kernel outlived the server" if left else "correct (a restart loses the kernel's state)",
    )
    if left:
        fate = (
            "still running on the gateway after the restart"
            if at_gateway == 200
            else "left on the gateway until the culler reaped it"
        )
        raise AssertionError(
            f"kernel {handle.id} ({spec}) outlived {user}'s server across its restart: {fate}, "
            f"HTTP {through} through the restarted server. Fix: give the server time to shut "
            "its kernels down on SIGTERM (the spawner's grace period, KubeSpawner's "
            "delete_grace_period) and let the gateway's culler reap what a killed server "
            "leaves (EG_CULL_IDLE_TIMEOUT)"
        )


def test_my_idle_kernel_is_culled_at_the_gateways_timeout(target, gateway, finding):
    """My kernel, disconnected and idle, must be culled within the gateway's cull_idle_timeout
    and two culler rounds, where the target's config says a culling that acts within the run."""
    gw = target.gateway
    bound = lifecycle.culler_fits(gw.cull_idle_timeout, gw.cull_interval)
    if bound is None:
        why = lifecycle.culling_text(gw.cull_idle_timeout, gw.cull_interval)
        if gw.cull_idle_timeout:
            why += f", beyond the {lifecycle.CULL_FITS_S:g}s a run waits"
        pytest.skip(
            f"{why}: the scenario waits only for a culling the target config says acts within "
            f"{lifecycle.CULL_FITS_S:g}s (the local target's culling stack: test_culling.py)"
        )
    handle = gateway.launch(gw.kernelspec or "python3")
    handle.channels.close()
    t0 = time.monotonic()
    culled = _quietly(
        f"the gateway's culler to reap idle kernel {handle.id}",
        lambda: _status(gateway, handle.id) == 404,
        lifecycle.culler_wait(bound),
    )
    waited = time.monotonic() - t0
    finding(
        "my kernel left idle and disconnected past the gateway's culling",
        f"culled {waited:.0f}s after its start" if culled else f"still running after {waited:.0f}s",
        lifecycle.culling_text(gw.cull_idle_timeout, gw.cull_interval),
        "correct" if culled else "not culled",
    )
    assert culled, (
        f"kernel {handle.id}, idle and disconnected, still runs {waited:.0f}s after its start: "
        f"{lifecycle.culling_text(gw.cull_idle_timeout, gw.cull_interval)}, so it should be "
        "gone. Fix: check the gateway's EG_CULL_IDLE_TIMEOUT and EG_CULL_INTERVAL (or the "
        "target config's gateway.cull_idle_timeout, if it is wrong)"
    )
    gateway.created.remove(handle.id)
