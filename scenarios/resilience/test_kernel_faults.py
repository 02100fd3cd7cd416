"""A kernel's process dies under a live client: the gateway's restarter must bring it back.

EG's restarter (jupyter_client's, polled every `time_to_dead`, 3 s) notices a dead kernel,
says `restarting` on iopub, and starts a new process under the same kernel id; the state is
lost. A kernel that keeps dying is given up after `restart_limit` (5) attempts: iopub says
`dead` and the kernel is removed (404), with nothing left running. For remote kernels
(python3_launcher: EG's remote-launch protocol through DistributedProcessProxy) the restarter
learns of the death through the process proxy's poll of the launcher.

These scenarios disturb only kernels they start, so they run on the run's shared stack, beside
other tests in a parallel run (`own_kernels`; still `destructive`: they kill processes on the
target, which an existing target must allow); they need the target's process view.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.abilities import require
from eg_harness.kernel.channels import ChannelsError
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import ProcessView

# Kills processes on the target, but only of kernels it started.
pytestmark = [pytest.mark.destructive, pytest.mark.own_kernels]

TIME_TO_DEAD = 3.0  # jupyter_client's restarter poll interval, which EG keeps
RESTART_LIMIT = 5  # jupyter_client's KernelRestarter.restart_limit
RESTARTER_BOUND = 5 * TIME_TO_DEAD + 15  # the longest wait for a restarter's word
OPEN_SOCKET_S = 5.0  # for a socket to a kernel already seen answering on another
PROMPT_S = 0.5  # a gateway answering GET /api within this is running its event loop freely


def restarter_had_its_chance(gateway, polls: int = 2):
    """When a killed kernel's silence proves that no restarter watches it, for `wait_status`.

    A correct EG says 'restarting' about 2.5 s after the kill: its restarter is a periodic
    callback on the gateway's event loop, every TIME_TO_DEAD seconds. Waiting the whole bound
    to prove the silence of a gateway without one cost 30 s a run. Instead the gateway's loop
    is probed (GET /api) while we wait: once it has answered promptly, without a gap, for
    `polls` poll periods and a second since the kill, the restarter has run that often and
    would have spoken. A slow or stopped gateway restarts that window, so a busy machine makes
    the wait longer, never the verdict wrong; RESTARTER_BOUND stays the ceiling. (A Spark
    driver's death reaches the restarter through its launcher: more polls for it.)
    """
    window = polls * TIME_TO_DEAD + 1.0
    since = time.monotonic()

    def enough() -> str | None:
        nonlocal since
        t0 = time.monotonic()
        try:
            gateway.request("GET", "/api", timeout=2 * PROMPT_S)
        except Exception:  # noqa: BLE001 - any failure to answer promptly restarts the window
            since = time.monotonic()
            return None
        if time.monotonic() - t0 > PROMPT_S:
            since = time.monotonic()
            return None
        if (quiet := time.monotonic() - since) >= window:
            return (
                f"while the gateway's event loop answered promptly for {quiet:.1f}s "
                f"({polls} restarter polls of {TIME_TO_DEAD:g}s and a second)"
            )
        return None

    return enough


@pytest.mark.parametrize("kernelspec", ["python3", "python3_launcher"])
def test_killed_kernel_is_restarted_under_its_id(gateway, target, kernelspec, run_state, finding):
    """SIGKILL to the kernel: iopub says restarting, the id stays, the state is gone."""
    view = require(target, ProcessView, "the scenario kills the kernel's process")
    if kernelspec not in gateway.kernelspecs()["kernelspecs"]:
        pytest.skip(f"the gateway has no {kernelspec} kernelspec")
    handle = gateway.launch(kernelspec)
    try:
        assert handle.execute("marker = 'before the fault'").status == "ok"
        pid = view.kernel_pid(handle.id)
        assert pid, f"cannot find the process of kernel {handle.id}"
        os.kill(pid, signal.SIGKILL)
        try:
            state, noticed, seen = handle.channels.wait_status(
                {"restarting", "dead"}, RESTARTER_BOUND, restarter_had_its_chance(gateway)
            )
        except ChannelsError as exc:
            raise AssertionError(
                f"kernel {handle.id} ({kernelspec}) was killed and the gateway said nothing "
                f"({exc}): no restarter is watching its kernels"
            ) from None
        assert state == "restarting", (
            f"kernel {handle.id} ({kernelspec}) was killed and iopub said {state!r} "
            f"(statuses: {seen}): the gateway's restarter did not restart it"
        )
        new_pid = wait_for(
            f"a new process for kernel {handle.id}",
            lambda: (p := view.kernel_pid(handle.id)) and p != pid and p,
            gateway.launch_timeout,
        )
        assert gateway.get_kernel(handle.id)["id"] == handle.id
        # A new WebSocket first: once it answers, the new process is up, and the open socket
        # gets a short window of its own instead of a long one that a booting kernel needs.
        t_ready = time.monotonic()
        fresh = reconnect(gateway, handle.id, gateway.launch_timeout, OPEN_SOCKET_S)
        usable = noticed + (time.monotonic() - t_ready)
        try:
            handle.channels.wait_ready(OPEN_SOCKET_S)
            socket, verdict = "the open WebSocket reached the new process", "correct (EG restarter)"
            fresh.close()
        except ChannelsError as exc:
            # jupyter_server 1.x (EG's) connects a WebSocket's ZMQ streams once, to the ports of
            # the moment; a remote kernel restarts on new ports. A new WebSocket must work.
            handle.channels.close()
            handle.channels = fresh
            socket = f"the open WebSocket reached nothing ({exc}); a new WebSocket works"
            verdict = "upstream: clients must reconnect (new ports after a remote restart)"
        res = handle.execute("print('marker' in globals())")
        assert res.stdout.strip() == "False", (
            f"state survived the kernel's death: {res.stdout!r} (old pid {pid}, new {new_pid})"
        )
        run_state.metric("kernel_kill_noticed_s", noticed, "s", kernelspec=kernelspec)
        finding(
            f"{kernelspec} kernel process killed (SIGKILL)",
            f"iopub 'restarting'; same kernel id, new process, variables gone; {socket}",
            f"noticed after {noticed:.1f}s; usable again (a new WebSocket) after {usable:.1f}s",
            verdict,
        )
    finally:
        handle.close()


def test_kernel_that_keeps_dying_is_dead_then_404(gateway, target, finding):
    """Killed again after every restart: past restart_limit, iopub says dead and the id 404s."""
    view = require(target, ProcessView, "the scenario kills the kernel's process")
    handle = gateway.launch("python3")
    kills = 0
    try:
        t0 = time.monotonic()
        deadline = t0 + (RESTART_LIMIT + 2) * (TIME_TO_DEAD + gateway.launch_timeout)
        statuses: list[str] = []
        while "dead" not in statuses:
            assert time.monotonic() < deadline, (
                f"kernel {handle.id} killed {kills} times is still not dead (statuses: "
                f"{statuses}): the restarter never gives up"
            )
            for pid in view.kernel_processes(handle.id):
                os.kill(pid, signal.SIGKILL)
                kills += 1
            frame = handle.channels.recv(0.05)
            if (
                frame
                and frame.get("channel") == "iopub"
                and frame["content"].get("execution_state")
            ):
                statuses.append(frame["content"]["execution_state"])
        dead_after = time.monotonic() - t0
        restarts = statuses.count("restarting")

        def gone() -> bool:
            try:
                gateway.get_kernel(handle.id)
            except GatewayHTTPError as exc:
                return exc.status == 404
            return False

        wait_for(f"kernel {handle.id} to answer 404 after 'dead'", gone, 30)
        left = view.kernel_processes(handle.id)
        assert not left, f"the dead kernel {handle.id} left processes running: {left}"
        assert restarts >= 1, f"iopub said dead without a restart attempt: {statuses}"
        handle.client.created.remove(handle.id)
        finding(
            "python3 kernel killed again after every restart",
            f"iopub 'restarting' x{restarts}, then 'dead'; the id then 404; nothing left",
            f"dead after {dead_after:.1f}s and {kills} kills",
            "correct (restart_limit 5)",
        )
    finally:
        handle.close()


@pytest.mark.long  # two Spark driver JVMs: about 30 s
@pytest.mark.slow
def test_killed_spark_driver_is_restarted_under_its_id(gateway, target, finding):
    """SIGKILL to a Spark kernel's driver JVM: EG's proxy poll notices, the kernel restarts
    with a new driver under the same id, and nothing of the old driver is left running."""
    view = require(target, ProcessView, "the scenario kills the driver's process")
    if target.spark is None:
        pytest.skip("the target has no Spark kernelspec (spark: section / java)")
    spec = target.spark.kernelspec
    client = target.gateway.client(launch_timeout=target.spark.launch_timeout)
    client.created = gateway.created  # the fixture's cleanup covers this client's kernels
    handle = client.launch(spec, first_code="marker = sc.applicationId\nprint(marker)")
    old_app = handle.first_result.stdout.strip()
    try:

        def drivers() -> list[int]:
            return [
                pid
                for pid in view.kernel_processes(handle.id)
                if "java" in os.path.basename(psutil.Process(pid).cmdline()[0])
            ]

        old = drivers()
        assert old, f"cannot find the driver JVM of Spark kernel {handle.id}"
        before = set(view.kernel_processes(handle.id))
        os.kill(old[0], signal.SIGKILL)
        try:
            state, noticed, seen = handle.channels.wait_status(
                {"restarting", "dead"}, RESTARTER_BOUND, restarter_had_its_chance(client, polls=5)
            )
        except ChannelsError as exc:
            raise AssertionError(
                f"Spark kernel {handle.id}'s driver was killed and the gateway said nothing "
                f"({exc}): no restarter is watching it"
            ) from None
        assert state == "restarting", f"the killed driver's kernel went {state!r} ({seen})"
        wait_for(
            "a new driver JVM",
            lambda: drivers() and set(drivers()).isdisjoint(old),
            client.launch_timeout,
        )
        handle.channels.close()
        handle.channels = reconnect(client, handle.id, client.launch_timeout)
        res = handle.execute("print('marker' in globals(), sc.applicationId)")
        assert res.stdout.split()[:1] == ["False"], f"state survived the driver: {res.stdout!r}"
        new_app = res.stdout.split()[-1]
        assert new_app != old_app, f"the restarted kernel still has the old driver {old_app}"
        left = wait_for_left(before, view, handle.id)
        assert not left, f"processes of the killed driver still run: {left}"
        finding(
            f"{spec} driver JVM killed (SIGKILL)",
            f"iopub 'restarting'; same kernel id, a new driver ({old_app} -> {new_app}), "
            "variables gone (the harness reconnected with a new WebSocket); nothing of the old "
            "driver left",
            f"noticed after {noticed:.1f}s",
            "correct (EG's process-proxy poll and restarter)",
        )
    finally:
        handle.close()


def reconnect(client, kernel_id: str, timeout: float, attempt_s: float = 20.0):
    """A new WebSocket that reaches the kernel, retried as a client would while the kernel is
    still restarting (EG drops a socket whose kernel does not answer its nudges; a socket
    opened before a remote kernel's new ports are known reaches nothing, ever)."""

    def attempt():
        chans = client.channels(kernel_id)
        try:
            chans.wait_ready(attempt_s)
        except ChannelsError:
            chans.close()
            raise
        return chans

    return wait_for(f"a WebSocket that reaches kernel {kernel_id}", attempt, timeout)


def wait_for_left(before: set[int], view, kernel_id: str) -> list[int]:
    """The old processes of a kernel still running after a bounded wait for them to go."""
    try:
        wait_for(
            "the old driver's processes to exit",
            lambda: not (before & set(view.kernel_processes(kernel_id))),
            15,
        )
    except AssertionError:
        return sorted(before & set(view.kernel_processes(kernel_id)))
    return []
