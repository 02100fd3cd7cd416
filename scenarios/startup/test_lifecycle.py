"""A kernel's lifecycle through the gateway: interrupt, restart, shutdown.

Interrupt must stop a running cell and keep state; restart must lose it; shutdown must answer
204, then 404, and (where the harness can see processes) leave no kernel process.
"""

from __future__ import annotations

import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.kernel import messages as m
from eg_harness.runtime import processes
from eg_harness.targets.abilities import ProcessView

# The cell says when `state` is set: an interrupt that lands between `busy` and that line
# (a loaded machine can take that long) would rightly leave no state, and prove nothing.
LONG = (
    "import time\nstate = 'kept'\nprint('looping', flush=True)\n"
    "for _ in range(600):\n    time.sleep(0.1)\n"
)


def _looping(frame) -> bool:
    return frame.get("channel") == "iopub" and (
        m.msg_type(frame) == "stream" and "looping" in frame["content"].get("text", "")
    )


def test_interrupt_stops_execution_and_keeps_state(kernel, gateway):
    """An interrupt ends a long cell with KeyboardInterrupt; variables survive."""
    req = m.execute_request(LONG, session=kernel.channels.session)
    kernel.channels.send(req)
    kernel.channels.collect(req, 30, until=_looping)
    gateway.interrupt_kernel(kernel.id)
    res = kernel.channels.collect(req, 20)
    assert res.status == "error" and (res.error or {}).get("ename") == "KeyboardInterrupt", (
        f"after an interrupt the cell ended with {res.status!r} ({res.describe_error()}), "
        "expected an error with KeyboardInterrupt"
    )
    after = kernel.execute("print(state)")
    assert after.stdout.strip() == "kept", (
        f"state lost across an interrupt: printed {after.stdout!r}, {after.describe_error()}"
    )


def test_restart_loses_state(kernel, gateway):
    """A restart gives a fresh interpreter, reached as JupyterLab reaches it after a restart:
    on a new WebSocket of the same session (@jupyterlab/services KernelConnection.restart
    reconnects "to address cases where kernel ports have changed during the restart"). On
    Kubernetes EG 3.3 restarts a kernel as a new pod with new ports, and an open WebSocket of
    its jupyter_server 1.x stays on the old pod's channels; only a reconnect follows them."""
    assert kernel.execute("marker = 41 + 1").status == "ok"
    model = gateway.restart_kernel(kernel.id)
    assert model["id"] == kernel.id, f"restart returned another kernel: {model}"
    session = kernel.channels.session
    kernel.channels.close()
    kernel.channels = gateway.channels(kernel.id, session=session)
    kernel.channels.wait_ready(gateway.launch_timeout)
    res = kernel.execute("print('marker' in globals())")
    assert res.stdout.strip() == "False", f"state survived a restart: {res.stdout!r}"


def test_shutdown_removes_kernel(gateway, target, kernelspec):
    """DELETE answers 204, the kernel is then 404, and its process is gone."""
    handle = gateway.launch(kernelspec)
    handle.channels.close()
    view = target.ability(ProcessView)
    pid = view.kernel_pid(handle.id) if view is not None else None
    if view is not None:
        assert pid, f"cannot find the process of kernel {handle.id} among the target's processes"
    resp = gateway.request("DELETE", f"/api/kernels/{handle.id}")
    assert resp.status_code == 204, f"DELETE answered {resp.status_code}, expected 204"
    gateway.created.remove(handle.id)
    with pytest.raises(GatewayHTTPError) as info:
        gateway.get_kernel(handle.id)
    assert info.value.status == 404, f"a deleted kernel answered {info.value.status}"
    if pid:
        assert processes.wait_gone(pid, 15), f"kernel process {pid} still runs 15s after DELETE"
