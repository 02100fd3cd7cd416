"""`eg-harness upgrade --target node`: EG's chart upgraded 3.2.3 -> 3.3.0 under a live user on a
real single-node Kubernetes, tabled the way the local upgrade tables its steps.

Opt-in: the node tier is near its time budget, so this runs only with EGH_NODE_UPGRADE=1 (one
more cluster bring-up, about 3 minutes warm; measured figures in docs/upgrade.md). Run it alone,
under the node lock:
    EGH_NODE_UPGRADE=1 flock /tmp/team/node.lock .venv/bin/python -m pytest \
        tests/selftest/test_node_upgrade.py -q
It shares the node tests' worker (`xdist_group`), so no two clusters ever run at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid

import pytest
from selftest_tools import leftovers

pytestmark = [
    pytest.mark.slow,
    pytest.mark.long,
    pytest.mark.xdist_group("node"),
    pytest.mark.skipif(
        os.environ.get("EGH_NODE_UPGRADE") != "1",
        reason="opt-in (one more node cluster, ~3 min): set EGH_NODE_UPGRADE=1",
    ),
]
TIMEOUT_S = 1800  # warm about 3 minutes; a first run also builds release A's images


def test_chart_upgrade_under_a_live_user_is_tabled_and_leaves_nothing(harness, tmp_path):
    report = tmp_path / "upgrade"
    run_id = f"selftest-upgrade-{uuid.uuid4().hex[:8]}"  # `upgrade` is given its id here
    run = harness(
        [
            "upgrade",
            "--run-id",
            run_id,
            "--target",
            "node",
            "--from",
            "3.2.3",
            "--to",
            "3.3.0",
            "--users",
            "1",
            "--no-spark",
            "--suite",
            "none",
            "--report-dir",
            str(report),
        ],
        timeout=TIMEOUT_S,
    )
    res = json.loads((report / "results.json").read_text())
    [step] = res["upgrade"]["steps"]
    assert step["step"] == "gateway-chart" and step["step_error"] is None, step
    assert step["to_versions"].startswith("gateway=3.3.0"), step
    # The Service answered as B after the upgrade, and the report says so.
    assert res["target"]["versions"]["enterprise_gateway"] == "3.3.0", res["target"]["versions"]
    assert res["target"]["versions"]["enterprise_gateway chart"] == "3.3.0"
    # The poller ran through the step: the table's downtime column is a measurement.
    assert step["gateway_polls"] > 0 and step["gateway_downtime_s"] is not None, step
    # The user got a working cell back (on the kernel they had or a new one).
    [user] = step["per_user"]
    assert user["recovered_s"] is not None, user
    # The verdict follows the table: failed exactly when the table names a problem.
    failed = [t for t in res["tests"] if t["outcome"] != "passed"]
    assert (run.returncode == 0) == (not failed), (run.returncode, failed, run.stdout[-2000:])
    # Nothing of the cluster is left on the host.
    bridges = subprocess.run(
        ["ip", "-o", "link", "show", "type", "bridge"], capture_output=True, text=True
    ).stdout
    assert "egh-" not in bridges, bridges
    assert not any(res["cleanup"].get(k) for k in res["cleanup"]), res["cleanup"]
    assert not leftovers(run_id)
