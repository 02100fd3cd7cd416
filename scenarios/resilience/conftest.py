"""What the resilience scenarios share: a stack of their own, and the findings table.

Every scenario here injects one fault into a running stack with live kernels. Those that stop,
kill or hang a component (marked `destructive`) get a short-lived stack of their own through
the target's OwnStacks ability, so no other suite of the run meets a gateway that is down; on an
existing target they skip unless its YAML says `allow_destructive: true` (and then still skip
where the harness cannot control the components).

Times (until a restart is noticed, until users can work again) are figures in the findings
table and the metrics, never asserted as absolute times: the bounds in the scenarios only keep
a broken deployment from hanging the run, and are generous multiples of the upstream settings
they follow (EG's 3 s `time_to_dead`, the launch timeout, the culler's interval).
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

FINDINGS = "resilience: faults injected into a running stack"
COLUMNS = ["fault", "what the user saw", "figure", "verdict"]
NOTE = (
    "Each row is one fault injected into a stack with live kernels. 'upstream' rows record "
    "what EG 3.3 / jupyter_server / JupyterHub do by design or by a known defect (cited), not "
    "a failure of the deployment; 'derived' rows are computed from a measured row, not measured. "
    "Figures are this run's, on a shared machine."
)


@pytest.fixture
def finding(run_state):
    """finding(fault, what the user saw, figure, verdict): a row of the findings table."""

    def add(fault: str, saw: str, figure: str, verdict: str) -> None:
        run_state.table_row(FINDINGS, COLUMNS, [fault, saw, figure, verdict], note=NOTE)

    return add


CULL_IDLE_TIMEOUT = 10  # the culling stack's gateway (EG's image: 43200; EG's code: 0, off)
CULL_INTERVAL = 2
ROUTE_CHECK_INTERVAL = 5  # the culling stack's hub last_activity_interval (JupyterHub: 300)
CULLING = dict(
    gateway_config={
        "RemoteMappingKernelManager.cull_idle_timeout": CULL_IDLE_TIMEOUT,
        "RemoteMappingKernelManager.cull_interval": CULL_INTERVAL,
    },
    # Servers get a grace period long enough to clean up on this busy machine; the seed's
    # KubeSpawner default (1 s) is compared with the measured stop in the findings.
    hub_settings={"last_activity_interval": ROUTE_CHECK_INTERVAL, "delete_grace_period": 10},
)


@dataclass(frozen=True)
class Culling:
    idle_timeout: float = CULL_IDLE_TIMEOUT
    interval: float = CULL_INTERVAL
    route_check: float = ROUTE_CHECK_INTERVAL


@pytest.fixture(scope="session")
def culling() -> Culling:
    """The culling stack's timings, for the scenarios' bounds and findings."""
    return Culling()


@pytest.fixture(scope="session")
def culling_stack(own_stack_of):
    """One short-lived stack whose gateway culls idle kernels after CULL_IDLE_TIMEOUT and whose
    hub re-checks proxy routes every ROUTE_CHECK_INTERVAL, shared by the culling and the
    hub/proxy/user-server scenarios (a stack costs seconds to start)."""
    with own_stack_of(**CULLING) as stack:
        yield stack
