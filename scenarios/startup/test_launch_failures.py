"""A kernel that never comes up fails within the launch timeout, with the gateway's reason.

EG #683/#932: users wait on kernels that will never start, and orphans are left behind. The
local target offers a kernelspec whose launcher never reports its ports (EG's remote-launch
protocol), so EG's own launch timeout must end the start.
"""

from __future__ import annotations

import time

import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.fixtures.abilities import require
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.abilities import HangingKernelspec, ProcessView

LAUNCH_TIMEOUT = 10
PAD = 20  # EG polls every 0.5s and kills the launcher; allow for a loaded 2-core machine


def test_hanging_kernel_fails_within_launch_timeout(gateway, target):
    """The start fails within KERNEL_LAUNCH_TIMEOUT plus a pad, and no process is left."""
    spec = require(target, HangingKernelspec).hanging_kernelspec()
    t0 = time.monotonic()
    with pytest.raises(GatewayHTTPError) as info:
        model = gateway.start_kernel(spec, {"KERNEL_LAUNCH_TIMEOUT": str(LAUNCH_TIMEOUT)})
        pytest.fail(f"kernelspec {spec} that never reports its ports was accepted: {model}")
    elapsed = time.monotonic() - t0
    exc = info.value
    assert elapsed <= LAUNCH_TIMEOUT + PAD, (
        f"the failed start took {elapsed:.1f}s, more than the launch timeout "
        f"{LAUNCH_TIMEOUT}s + {PAD}s: {exc}"
    )
    assert exc.status >= 500 and ("Waited too long" in str(exc) or "timeout" in str(exc)), (
        f"the gateway's answer does not say the launch timed out: {exc}"
    )
    view = target.ability(ProcessView)
    if view is not None:

        def launcher_gone() -> bool:
            return not [p for p in view.run_processes() if "--never-respond" in p.cmdline()]

        wait_for("the hanging kernel's launcher to be killed", launcher_gone, 15)
