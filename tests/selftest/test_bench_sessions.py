"""`eg-harness bench-ws --sessions` end to end on the local target, small: two stacks, 20
sessions on 2 kernels over 2 gateways, 3 s of load each (about 70 s a run on the loaded 2-core
development machine; marked slow).

The generator's negative twin: the same bench with the generator's loop blocked 90% of the
time must not pass; it ends INVALID with exit 4 and says why. The normal run passes, holds
every session, and writes the OpenMetrics file prometheus_client reads back.
"""

from __future__ import annotations

import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families

pytestmark = pytest.mark.slow

SMALL = [
    "bench-ws",
    *("--sessions", "20", "--per-kernel", "10", "--gateways", "2"),
    *("--period", "1", "--duration", "3", "--baseline-executes", "5"),
]


def test_sessions_bench_holds_every_session_and_a_starved_generator_is_invalid(harness):
    normal = harness(SMALL, timeout=600)
    assert normal.returncode == 0, normal.explain()
    res = normal.results
    s = res["sessions"]
    assert s["sessions_held"] == 20 and s["sessions_alive_at_end"] == 20, s["gateways"]
    assert [g["sessions_held"] for g in s["gateways"]] == [10, 10]
    assert s["generator"]["valid"] and s["generator"]["cores"] < 0.8
    assert s["latency"]["count"] >= 20 and s["ratio"]["p50"] is not None
    groups = {g["group"] for g in res["server_metrics"]["groups"]}
    assert {"gateway", "kernels", "hub", "proxy"} <= groups
    assert res["server_metrics"]["hub"]["scrapes"] >= 1, res["server_metrics"]["hub"]
    assert "sessions held: 20 / 20" in normal.stdout
    families = {
        f.name: f
        for f in text_string_to_metric_families((normal.report_dir / "metrics.om").read_text())
    }
    held = {x.labels["state"]: x.value for x in families["eg_harness_ws_sessions"].samples}
    assert held["held"] == 20 and all(
        x.labels["run_id"] == normal.run_id for x in families["eg_harness_ws_sessions"].samples
    )

    starved = harness([*SMALL, "--starve-generator"], timeout=600)
    assert starved.returncode == 4, starved.explain()
    gen = starved.results["sessions"]["generator"]
    assert not gen["valid"] and gen["reasons"], gen
    assert "INVALID" in starved.stdout
    verdicts = {t["nodeid"]: t for t in starved.results["tests"]}
    assert verdicts["bench-ws::generator"]["outcome"] == "failed"
