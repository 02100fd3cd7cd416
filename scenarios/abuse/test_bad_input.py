"""Bad input: every malformed request or frame of the catalogue gets a clear refusal.

Each case (eg_harness.abuse.catalogue) goes straight to the gateway and through the hub (proxy
-> gateway-mode user server -> gateway). A case passes when the answer is of the expected class
(a 4xx without a traceback, a contained WebSocket frame, a half-open request held without harm,
a dropped socket let go) within a bound, another user's kernel on the gateway still executes
right after, and nothing new runs (kernels on the gateway and the layer, kernel processes).
Where upstream answers 500, hangs or redirects, the case is a strict xfail citing the cause:
it fails the run the day upstream fixes it, so the record gets updated. The malformed frames of
the websocket suite (invalid JSON on v1, unknown channel, truncated and bad-offset v1, 12 MiB)
are not repeated here.
"""

from __future__ import annotations

import contextlib
import uuid

import pytest
from eg_harness.abuse import send
from eg_harness.abuse.catalogue import items
from eg_harness.abuse.send import BOUND_S
from eg_harness.checks.abuse import verdict
from eg_harness.runtime.processes import kernel_processes
from eg_harness.runtime.waits import WaitTimeout, wait_for

# Counts kernels and processes before and after each case: in a parallel run it runs alone.
pytestmark = [
    pytest.mark.destructive,
    pytest.mark.serial,
    pytest.mark.usefixtures("destructive_allowed"),
]

TABLE = "Bad input"
COLUMNS = ["input", "layer", "status", "message", "verdict"]
NOTE = (
    "Every malformed request of the abuse catalogue, straight at the gateway and through the "
    "hub. 'known upstream' rows are strict xfails: the cause is in the record."
)


def _param(case, layer):
    marks = []
    known = case.known.get(layer)
    if known:
        marks.append(pytest.mark.xfail(strict=True, reason=f"{known.observed}: {known.cause}"))
        if "hang" in known.observed:
            marks.append(pytest.mark.slow)  # waits out its bound by construction
    return pytest.param(case, layer, id=f"{layer}-{case.id}", marks=marks)


@pytest.mark.usefixtures("processes_at_start")
@pytest.mark.parametrize(("case", "layer"), [_param(c, ly) for c, ly in items()])
def test_bad_input_is_refused_clearly(case, layer, layers, bystander, running, run_state):
    ctx = layers(layer)
    bystander.ready(BOUND_S)
    watch = running(ctx)
    before = watch.snapshot()
    problems: list[str] = []
    marker = uuid.uuid4().hex[:8]

    def probe() -> None:
        """Another user's kernel still executes, on the socket they held open meanwhile."""
        try:
            got = bystander.execute(f"print('{marker}')", timeout=BOUND_S)
            if got != marker:
                problems.append(f"another user's kernel answered {got!r}, not {marker!r}")
        except AssertionError as exc:
            problems.append(f"another user's kernel stopped executing: {exc}")

    if case.expect == "held":
        with send.hold(case, ctx, BOUND_S) as obs:
            probe()
    else:
        obs = send.frames(case, ctx, BOUND_S) if case.websocket else send.rest(case, ctx, BOUND_S)
        probe()
    ok, why = verdict(case.expect, obs, BOUND_S)
    if not ok:
        problems.insert(0, f"{case.what} ({layer}): {why}")
    after = watch.snapshot()  # also proves both servers still answer
    for what, now in after.items():
        new = now - before.get(what, set())
        if new:
            problems.append(f"left {len(new)} new {what} running")
            watch.remove(new)
    shown = obs.describe() + (f" ({', '.join(obs.notes)})" if obs.notes else "")
    known = case.known.get(layer)
    row_verdict = why if ok and not problems else "FAIL: " + "; ".join(problems)
    if known:
        row_verdict = f"known upstream ({known.observed}): " + row_verdict
    run_state.table_row(
        TABLE, COLUMNS, [case.what, layer, shown, obs.message or obs.traceback, row_verdict], NOTE
    )
    assert not problems, "; ".join(problems)


def test_no_kernel_process_left_behind(target, layers, processes_at_start, gateway):
    """After every case: no kernel process the gateway has lost track of (a process view only;
    the cases compare the servers' kernel lists).

    New kernel processes the gateway still lists belong to somebody (in a parallel run, the
    other worker's scenarios), and one another scenario just shut down may still be exiting:
    what counts is a process that outlives a bounded wait with no kernel on the gateway.
    """
    if processes_at_start is None:
        pytest.skip("needs the target's process view (local target)")
    own = {layers("gateway").kernel_id}
    if target.hub is not None:
        own.add(layers("hub").kernel_id)

    def orphans() -> list[str]:
        listed = (
            {k["id"] for k in gateway.list_kernels()} if target.capabilities.list_kernels else set()
        )
        now = kernel_processes(target.run_processes())
        return [p for p in now - processes_at_start if not any(k in p for k in own | listed)]

    with contextlib.suppress(WaitTimeout):
        wait_for("kernel processes nobody owns to exit", lambda: not orphans(), 15)
    left = orphans()
    assert not left, f"kernel processes left by the bad inputs: {left}"
