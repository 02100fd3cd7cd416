"""A parallel run's occupancy: busy workers second by second, from the tests' placements."""

from eg_harness.report.charts import workers_chart
from eg_harness.report.outcomes import ItemRecord, PhaseReport
from eg_harness.report.workers import occupancy


def _t(worker, start, dur, suite="auth", outcome="passed"):
    return {
        "worker": worker,
        "start_s": start,
        "duration_s": dur,
        "suite": suite,
        "outcome": outcome,
    }


def test_levels_add_up_to_the_wall_time_and_show_the_waiting():
    # gw0: 0-10 and 10-30; gw1: 0-4 then waits; nothing runs 30-40 (teardown)
    tests = [_t("gw0", 0, 10), _t("gw0", 10, 20), _t("gw1", 0, 4)]
    occ = occupancy(tests, wall_s=40)
    assert occ.by_level == {2: 4, 1: 26, 0: 10}
    assert sum(occ.by_level.values()) == 40
    assert occ.busy_s == {"gw0": 30, "gw1": 4}
    assert occ.tests == {"gw0": 2, "gw1": 1}
    assert round(occ.mean_busy, 3) == round((2 * 4 + 26) / 40, 3)
    text = "\n".join(occ.lines())
    assert "0 busy 10.0s" in text and "gw1: 1 tests, busy 4.0s" in text


def test_a_serial_run_has_no_occupancy_and_no_chart():
    tests = [{"worker": None, "start_s": 1.0, "duration_s": 2.0, "suite": "a", "outcome": "passed"}]
    assert occupancy(tests, 10) is None
    assert workers_chart(tests, 10) is None


def test_a_parallel_run_gets_a_chart():
    chart = workers_chart([_t("gw0", 0, 3), _t("gw1", 1, 2, "spark", "failed")], 5)
    assert chart["title"].startswith("Workers") and len(chart["png"]) > 100


def test_an_item_is_placed_at_its_first_phase_on_its_worker():
    item = ItemRecord("scenarios/x.py::t")
    item.add(PhaseReport("setup", "passed", duration=1.0, start=105.0, worker="gw1"))
    item.add(PhaseReport("call", "passed", duration=2.0, start=106.0, worker="gw1"))
    r = item.result(run_start=100.0)
    assert (r.start_s, r.worker, r.duration_s) == (5.0, "gw1", 3.0)
    assert item.result().start_s is None  # no run start known: no placement
