"""The gateway stopped, crashed or hung under live kernels, on a stack of the scenarios' own.

Upstream facts these check (EG 3.3 enterprisegatewayapp.py, kernelsessionmanager.py;
jupyter_server gateway_client.py):
- SIGTERM (a rolling update) shuts every kernel down, persistence or not (EG #1156);
- SIGKILL leaves LocalProcessProxy kernels to die with EG (ipykernel's parent poller) and
  remote kernels running; without persistence the new EG knows none of them;
- with session persistence in standalone mode EG revives saved remote kernels at start-up;
- a hung EG still accepts TCP, so a user server's request waits its `request_timeout` (the
  seed's 600 s, jupyter_server's 42 s default) before the user sees an error.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time

import httpx
import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.collector import state_of
from eg_harness.fixtures.hub_users import throwaway_server
from eg_harness.kernel.channels import ChannelsError
from eg_harness.runtime.text import clip
from eg_harness.runtime.waits import wait_for

pytestmark = [pytest.mark.destructive, pytest.mark.own_stack, pytest.mark.needs_hub]

HUB_REQUEST_TIMEOUT = 4.0  # the user servers' GatewayClient.request_timeout on this stack
SEED_REQUEST_TIMEOUT = 600.0  # the seed's profile
DEFAULT_REQUEST_TIMEOUT = 42.0  # jupyter_server: KERNEL_LAUNCH_TIMEOUT 40 + pad 2
# jupyter_server's RetryableHTTPClient retries GET and DELETE twice on 502/503/504/599.
GET_ATTEMPTS = 3
PERSISTENCE = {"EG_KERNEL_SESSION_PERSISTENCE": "True", "EG_AVAILABILITY_MODE": "standalone"}
SPECS = ("python3", "python3_launcher")  # a LocalProcessProxy kernel and a remote one


@pytest.fixture(scope="module")
def stack(own_stack_of):
    with own_stack_of(hub_settings={"gateway_request_timeout": HUB_REQUEST_TIMEOUT}) as stack:
        yield stack


@pytest.fixture
def gw(stack, request):
    """The stack's gateway; a scenario that failed with the gateway down leaves it started again
    for the next one, and the kernels it started deleted."""
    clients = state_of(request.config).clients
    client = stack.gateway.client()
    clients.append(client)
    yield client
    if stack.component_pid("gateway") is None:
        stack.start_component("gateway")
    client.cleanup()
    clients.remove(client)
    client.close()


def _kernels(gw) -> dict[str, object]:
    """One live kernel of each kind, with a state marker set."""
    out = {}
    for spec in SPECS:
        handle = gw.launch(spec)
        assert handle.execute(f"marker = 'set in {spec}'").status == "ok"
        out[spec] = handle
    return out


def _restart_gateway(stack, **changes) -> float:
    t0 = time.monotonic()
    stack.start_component("gateway", **changes)
    return time.monotonic() - t0


def _kill_leftovers(stack, kernel_ids) -> list[str]:
    """Kill (for cleanup) what still runs of the given kernels; returns what was running."""
    left = []
    for kid in kernel_ids:
        for pid in stack.kernel_processes(kid):
            left.append(f"{kid[:8]} pid {pid}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return left


def _status(gw, kernel_id) -> int:
    try:
        gw.get_kernel(kernel_id)
        return 200
    except GatewayHTTPError as exc:
        return exc.status


def test_gateway_sigterm_shuts_its_kernels_down(stack, gw, run_state, finding):
    """SIGTERM: EG shuts every kernel down (local and remote) and nothing is orphaned."""
    handles = _kernels(gw)
    ids = {spec: h.id for spec, h in handles.items()}
    t0 = time.monotonic()
    stop = stack.stop_component("gateway", sig=signal.SIGTERM, timeout=60)
    stopped = time.monotonic() - t0
    for h in handles.values():
        h.channels.close()
    # EG shuts its kernels down and waits for them before it exits: a python3 kernel (its own
    # child) still running a few seconds after it is already the orphan, with no need to wait
    # for the others. Remote kernels are not its children; give their end a moment (bounded),
    # then anything still running is an orphan. The time they took is a metric.
    t_gone = time.monotonic()
    if wait_for_quietly(lambda: not stack.kernel_processes(ids["python3"]), 5) and (
        wait_for_quietly(lambda: not any(stack.kernel_processes(k) for k in ids.values()), 10)
    ):
        run_state.metric("kernels_gone_after_sigterm_s", time.monotonic() - t_gone, "s")
    orphans = _kill_leftovers(stack, ids.values())
    assert not orphans, (
        f"kernels orphaned by a gateway SIGTERM, still running after it stopped: {orphans} "
        f"(gateway exit code {stop.exit_code}; its children that outlived it: {stop.outlived})"
    )
    restart = _restart_gateway(stack)
    listed = {k["id"] for k in gw.list_kernels()}
    assert not listed & set(ids.values()), f"the restarted gateway still lists {listed}"
    gw.created.clear()
    finding(
        "gateway stopped (SIGTERM), no persistence",
        "every kernel shut down (python3 and python3_launcher); nothing orphaned; the "
        "restarted gateway lists none: users lose their kernels",
        f"gateway exited in {stopped:.1f}s; back in {restart:.1f}s",
        "correct; kernels lost on every rolling update (EG #1156: even with persistence)",
    )


def test_gateway_sigkill_without_persistence(stack, gw, run_state, finding):
    """SIGKILL, no persistence: the new gateway knows no kernel (404); record what is left."""
    handles = _kernels(gw)
    ids = {spec: h.id for spec, h in handles.items()}
    stack.stop_component("gateway", sig=signal.SIGKILL)
    # What an open client sees: its WebSocket ends.
    try:
        handles["python3"].execute("1", timeout=10)
        saw = "the open WebSocket still answered (unexpected)"
    except ChannelsError as exc:
        code = getattr(exc, "code", None)
        how = f"close code {code}" if code else "no close frame"
        saw = f"the open WebSocket was dropped ({type(exc).__name__}, {how})"
    for h in handles.values():
        h.channels.close()
    local_gone = wait_for_quietly(lambda: not stack.kernel_processes(ids["python3"]), 15)
    remote_running = bool(stack.kernel_processes(ids["python3_launcher"]))
    restart = _restart_gateway(stack)
    statuses = {spec: _status(gw, kid) for spec, kid in ids.items()}
    orphans = _kill_leftovers(stack, ids.values())
    gw.created.clear()
    assert local_gone, "the python3 (LocalProcessProxy) kernel outlived its gateway's SIGKILL"
    assert statuses == {"python3": 404, "python3_launcher": 404}, (
        f"a gateway restarted without persistence answered {statuses} for the old kernels"
    )
    finding(
        "gateway killed (SIGKILL), no persistence",
        f"{saw}; python3 kernel died with EG; python3_launcher kernel "
        f"{'kept running, unreachable' if remote_running else 'died too'}; the new gateway "
        "answers 404 for both",
        f"back in {restart:.1f}s; orphaned remote kernels: {len(orphans)} (killed by the harness)",
        "upstream by design: without persistence a crash loses every kernel and leaves remote "
        "ones running with no owner",
    )


def wait_for_quietly(check, timeout: float):
    """`check`'s truthy value within `timeout`, or False: for facts that are recorded, not
    asserted."""
    try:
        return wait_for("a condition", check, timeout)
    except AssertionError:
        return False


def test_gateway_sigkill_with_persistence(stack, gw, run_state, finding):
    """SIGKILL with session persistence (standalone): remote kernels revived, state kept."""
    stack.stop_component("gateway", timeout=60)
    _restart_gateway(stack, env=PERSISTENCE)
    try:
        handles = _kernels(gw)
        ids = {spec: h.id for spec, h in handles.items()}
        stack.stop_component("gateway", sig=signal.SIGKILL)
        for h in handles.values():
            h.channels.close()
        restart = _restart_gateway(stack)
        statuses = {spec: _status(gw, kid) for spec, kid in ids.items()}
        revived = statuses["python3_launcher"] == 200
        marker = None
        if revived:
            chans = gw.channels(ids["python3_launcher"])
            try:
                chans.wait_ready(gw.launch_timeout)
                marker = chans.execute("print(marker)").stdout.strip()
            finally:
                chans.close()
        for spec, kid in ids.items():
            if statuses[spec] != 200:
                with contextlib.suppress(ValueError):
                    gw.created.remove(kid)
        _kill_leftovers(stack, [ids["python3"]])
        assert statuses["python3"] in (200, 404), f"odd answer for the local kernel: {statuses}"
        if revived:
            assert marker == "set in python3_launcher", (
                f"the revived remote kernel lost its state: marker is {marker!r}"
            )
        finding(
            "gateway killed (SIGKILL), session persistence (standalone)",
            f"after restart: python3_launcher {statuses['python3_launcher']}"
            + (f", reconnected, marker {marker!r}" if revived else "")
            + f"; python3 (LocalProcessProxy) {statuses['python3']}",
            f"back in {restart:.1f}s",
            "correct: remote kernel revived with its state"
            if revived
            else "upstream: EG 3.3 did not revive the saved remote kernel (see gateway log)",
        )
    finally:
        gw.cleanup()
        stack.stop_component("gateway", timeout=60)
        _restart_gateway(stack, env=dict.fromkeys(PERSISTENCE))  # None: unset


def _timed(client, method: str, path: str, body=None) -> tuple[str, int | None, str, float]:
    """(method, status or None, what came back, seconds): bounded by the harness, never hung."""
    bound = (GET_ATTEMPTS + 1) * HUB_REQUEST_TIMEOUT + 30
    t0 = time.monotonic()
    try:
        resp = client.request(method, path, json=body, timeout=bound)
        answer, code = f"HTTP {resp.status_code}: {clip(resp.text, 160)}", resp.status_code
    except httpx.TimeoutException:
        answer, code = f"no answer within the harness's bound of {bound:.0f}s", None
    return method, code, answer, time.monotonic() - t0


@pytest.mark.long  # waits out a hung gateway's bounds: about 30 s
def test_hung_gateway_is_reported_not_waited_on(stack, gw, request, run_state, finding):
    """SIGSTOP: the harness names the hang within its own bound; users get an error after the
    user server's request_timeout; after SIGCONT everything works again."""
    handle = gw.launch("python3")
    state = state_of(request.config)
    with throwaway_server(stack, state, "hung-gateway") as server:
        server.client.list_kernels()  # the user server reaches the gateway before the fault
        stack.signal_component("gateway", signal.SIGSTOP)
        try:
            # The harness's own check: a short, bounded probe names the hang.
            t0 = time.monotonic()
            with pytest.raises(httpx.TimeoutException):
                gw.request("GET", "/api", timeout=3)
            probe = time.monotonic() - t0
            # A live kernel's execute stalls (bounded), it does not hang the harness.
            with pytest.raises(ChannelsError):
                handle.execute("1", timeout=5)
            # What the user sees through hub -> user server -> gateway: a GET (JupyterLab's
            # kernel list) and a POST (a kernel start).
            get = _timed(server.client, "GET", "/api/kernels")
            post = _timed(server.client, "POST", "/api/kernels", {"name": "python3"})
        finally:
            stack.signal_component("gateway", signal.SIGCONT)
        t0 = time.monotonic()
        wait_for("the gateway to answer after SIGCONT", lambda: gw.api_info(), 60)
        handle.channels.close()
        handle.channels = gw.channels(handle.id)
        handle.channels.wait_ready(gw.launch_timeout)
        assert handle.execute("print(6 * 7)").stdout.strip() == "42"
        recovered = time.monotonic() - t0
        assert server.client.list_kernels() is not None
        # The kernel start the user saw fail was queued in the stopped gateway's socket: does
        # it start anyway once the gateway resumes, unknown to the user?
        strays = wait_for_quietly(
            lambda: [k["id"] for k in gw.list_kernels() if k["id"] != handle.id], 10
        )
        for kernel_id in strays or []:
            gw.shutdown_quietly(kernel_id)
    handle.close()
    finding(
        "gateway hung (SIGSTOP), then resumed: the kernel start that timed out",
        f"{len(strays or [])} kernel(s) started anyway after SIGCONT, unknown to the user "
        "(deleted by the harness)"
        if strays
        else "no kernel was started after the gateway resumed",
        "probed for 10s after SIGCONT",
        "upstream: an orphan until culled" if strays else "correct",
    )
    for (method, code, answer, waited), attempts in ((get, GET_ATTEMPTS), (post, 1)):
        assert code is not None and code >= 500, (
            f"through the hub, a {method} to a hung gateway gave {answer} after {waited:.1f}s: "
            "the user server should answer with an error once its request_timeout passes"
        )
        run_state.metric("hung_gateway_user_error_s", waited, "s", method=method, request_timeout=4)
        finding(
            f"gateway hung (SIGSTOP): a {method} through the hub, user server request_timeout "
            f"{HUB_REQUEST_TIMEOUT:g}s (measured)",
            f"{answer}; the harness's own probe named the hang after {probe:.1f}s",
            f"error after {waited:.1f}s ({attempts} attempt(s) x {HUB_REQUEST_TIMEOUT:g}s); "
            f"working again {recovered:.1f}s after SIGCONT",
            "upstream: jupyter_server retries a GET twice on its own timeout (599), so a user "
            "waits 3 x request_timeout; the message is unformatted ('[%s] %s')"
            if attempts > 1
            else "correct: a kernel start is not retried",
        )
        for label, timeout in (
            ("the seed's", SEED_REQUEST_TIMEOUT),
            ("jupyter_server's default", DEFAULT_REQUEST_TIMEOUT),
        ):
            finding(
                f"gateway hung: a {method} through the hub, {label} request_timeout "
                f"{timeout:g}s (derived, not measured)",
                f"an error after {attempts} x request_timeout, as measured above",
                f"about {attempts * timeout:.0f}s",
                "deployment choice: the seed's 600 s"
                if timeout == SEED_REQUEST_TIMEOUT
                else "upstream default",
            )
