"""The real upgrade between real releases (the `upgrade` suite), and `run --phase`.

About 4-6 minutes on the 2-core development machine (a second stack at A, three operator
steps with one user and one python kernel); the negative twin (hub_skips_upgrade_db) is in
test_negative_twins.py, built from the fault catalogue.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow


def test_upgrade_suite_upgrades_a_live_user_to_b(harness):
    run = harness(["run", "--suite", "upgrade"], timeout=1500)
    assert run.returncode == 0, run.explain()
    res = run.results
    [table] = [t for t in res["tables"] if t["title"].startswith("Upgrade gateway=3.2.3")]
    rows = {r[0]: dict(zip(table["columns"], r, strict=True)) for r in table["rows"]}
    assert list(rows) == ["hub", "gateway", "user-servers"], rows
    assert rows["user-servers"]["versions after"].startswith("gateway=3.3.0, hub=6.1.1"), rows
    # With cleanup_servers off the hub's restart keeps the user's server (still A's
    # jupyter_server) and route; the user-servers step replaces it with one on B.
    assert rows["hub"]["user servers"] == "1/1 (jupyter_server 2.20.0)", rows["hub"]
    assert rows["hub"]["proxy routes"] == "1/1", rows["hub"]
    assert rows["user-servers"]["user servers"] == "0/1 (jupyter_server 2.21.1)", rows
    # EG shuts kernels down on SIGTERM (EG #1156): if this fails, upstream changed; update the
    # expectation and the table's explanation.
    assert rows["gateway"]["kernels"] == "0/1", rows["gateway"]
    assert "#1156" in rows["gateway"]["why (upstream or deployment choice)"], rows["gateway"]
    for r in rows.values():
        assert r["orphaned"] == "nothing", r
    assert not any(res["cleanup"].get(k) for k in res["cleanup"]), res["cleanup"]


def test_phase_is_recorded_and_linked(harness):
    run = harness(
        ["run", "--suite", "auth", "--phase", "before", "--", "-k", "wrong_credentials_refused"],
        timeout=600,
    )
    assert run.returncode == 0, run.explain()
    assert run.results["phase"] == "before"
    assert run.results["target"]["versions"]["enterprise_gateway"] == "3.3.0"
