"""Upgrade A -> B with a live user: what survives each operator step, what the user sees.

The smallest real upgrade between real releases (eg_harness.runtime.versions' defaults: EG
3.2.3 -> today's 3.3.0, JupyterHub 5.5.4 -> 6.1.1, user servers' jupyter_server/jupyterlab
one minor back -> today's): one user with one python kernel, a state marker and a streaming
cell, through the three steps that change a version (the persistent gateway restart and Spark
kernels are `eg-harness upgrade`'s: each costs minutes on a small machine). Losses are findings
(the table in the report says which are upstream behaviour and which are deployment choices);
the scenario fails
when a step cannot be completed, the user never gets a working cell back, or anything is left
orphaned. `eg-harness upgrade` runs the same journey with more users and the suites on B.
"""

from __future__ import annotations

import pytest
from eg_harness.checks import upgrade as table
from eg_harness.fixtures.abilities import require
from eg_harness.runtime import progress, versions
from eg_harness.targets.abilities import OwnStacks
from eg_harness.upgrade.journey import Plan, Upgrade

pytestmark = [pytest.mark.slow, pytest.mark.destructive, pytest.mark.own_stack]

RECOVER_TIMEOUT = 120.0


@pytest.mark.long  # a second stack, upgraded step by step: 40-50 s
def test_upgrade_keeps_users_working(target_unprovisioned, run_state, request):
    # Its stacks are its own: the run's stack is never started for it.
    control = require(target_unprovisioned, OwnStacks)
    plan = Plan(
        origin=versions.default_from(),
        dest=versions.current(),
        users=1,
        steps=("hub", "gateway", "user-servers"),
        spark=False,
        recover_timeout=RECOVER_TIMEOUT,
        cleanup_servers=False,  # z2jh's choice, as the seed deploys it
    )
    say = progress.through_pytest(request.config)
    with control.own_stack(
        versions=plan.origin, hub_settings={"cleanup_servers": False}, progress=say
    ) as stack:
        journey = Upgrade(stack, plan, say)
        try:
            steps = journey.run()
        finally:
            journey.close()
    title = f"Upgrade {plan.origin.label()} -> {plan.dest.label()}"
    for f in steps:
        run_state.table_row(title, table.COLUMNS, table.row(f), note=table.NOTE)
    bad = [p for f in steps for p in table.problems(f, RECOVER_TIMEOUT)]
    assert not bad, "\n".join(bad)
    assert [f.step for f in steps] == list(plan.steps)
