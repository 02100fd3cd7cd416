"""The typed load results (eg_harness.report.bench_results) on real documents: results.json files
that benches, a workload, bench-ws --sessions and a suite's throughput checks wrote on the local
stack (tests/unit/data/results/, charts and long sample lists trimmed), and one written before
verdicts and the machine-slowdown figures existed (bench_old.json). A reports dir from before
the types must still load, gate and diff the same way.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import jsonschema
import pytest
from eg_harness.errors import ConfigError
from eg_harness.load import gate, summary
from eg_harness.report import charts, diff, writer
from eg_harness.report.bench_results import (
    BenchFigures,
    BenchThroughput,
    Level,
    Sessions,
    WorkloadThroughput,
    read_throughput,
)
from eg_harness.report.model import Results

DATA = Path(__file__).resolve().parents[1] / "data" / "results"
SCHEMA = Path(__file__).resolve().parents[3] / "reports" / "results.schema.json"
NAMES = [
    "bench_a",
    "bench_b",
    "bench_single",
    "bench_old",
    "workload",
    "sessions",
    "suite_load_runs",
]


def _doc(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def _report_dir(tmp_path: Path, name: str, doc: dict | None = None) -> Path:
    d = tmp_path / name
    d.mkdir()
    if doc is None:
        shutil.copy(DATA / f"{name}.json", d / "results.json")
    else:
        (d / "results.json").write_text(json.dumps(doc))
    return d


@pytest.mark.parametrize("name", NAMES)
def test_a_saved_results_json_loads_and_writes_back_as_it_was(name):
    doc = _doc(name)
    back = json.loads(writer.load_results(DATA / f"{name}.json").model_dump_json())
    # Every key the producer wrote comes back with the same value; nothing is dropped or
    # defaulted into the load sections (an older document gains only its derived verdict).
    for section in ("throughput", "sessions", "load_runs"):
        assert back.get(section) == doc.get(section), section
    assert {k: v for k, v in back.items() if k in doc} == doc


@pytest.mark.parametrize("name", NAMES)
def test_each_saved_document_validates_against_the_published_schema(name):
    schema = json.loads(SCHEMA.read_text())
    jsonschema.validate(
        json.loads(writer.load_results(DATA / f"{name}.json").model_dump_json()), schema
    )


def test_the_published_schema_types_the_load_sections():
    props = json.loads(SCHEMA.read_text())["properties"]
    assert props["load_runs"]["additionalProperties"] == {"$ref": "#/$defs/Level"}
    refs = json.dumps(props["throughput"])
    assert "BenchThroughput" in refs and "WorkloadThroughput" in refs
    assert "Sessions" in json.dumps(props["sessions"])


def test_throughput_holds_either_shape_told_apart_by_the_workload_section():
    bench = writer.load_results(DATA / "bench_a.json")
    workload = writer.load_results(DATA / "workload.json")
    assert isinstance(bench.throughput, BenchThroughput)
    assert isinstance(workload.throughput, WorkloadThroughput)
    assert workload.throughput.session.mode == "workload"
    assert [o.met for o in workload.throughput.objectives] == [True] * 4
    assert workload.throughput.figures().levels() == {}  # no ladder: nothing for the gate


def test_a_repeated_levels_figures_and_samples_are_its_repeats():
    t = writer.load_results(DATA / "bench_a.json").throughput
    [storm] = t.storms
    assert t.repeats == 5 and storm.repeats == 5
    p50s = [0.3803, 0.3327, 0.341, 0.3567, 0.3838]
    assert storm.samples("p50_ttfe_s") == p50s
    assert t.samples("storm 2", "p50_ttfe_s") == p50s
    assert t.samples("storm 9", "p50_ttfe_s") == []  # a level the bench did not run
    figs = storm.figures()
    assert figs.p50_ttfe_s == storm.time_to_first_execute_s.p50
    assert figs.p50_ttfe_adjusted_s == round(storm.time_to_first_execute_s.p50 / 1.476, 4)
    assert list(t.figures().levels()) == ["storm 2"]


def test_a_single_runs_figure_is_one_sample_and_an_absent_rate_counts_as_zero():
    t = writer.load_results(DATA / "bench_single.json").throughput
    storms = {s.concurrency: s for s in t.storms}
    assert storms[4].samples("p95_ttfe_s") == [storms[4].time_to_first_execute_s.p95]
    assert storms[4].samples("error_rate") == [0.5]
    old = writer.load_results(DATA / "bench_old.json").throughput
    assert old.storms[0].machine_slowdown is None
    assert old.storms[0].samples("p50_ttfe_adjusted_s") == []  # older benches had none
    figs = BenchFigures.model_validate({"storms": {"1": {}}})
    assert figs.storms["1"].samples("starts_per_s") == [0.0]
    assert figs.storms["1"].samples("p95_ttfe_s") == []


def test_sessions_and_load_runs_are_typed():
    s = writer.load_results(DATA / "sessions.json").sessions
    assert isinstance(s, Sessions)
    assert s.sessions_held == s.sessions_requested == 20 and s.generator.valid
    assert s.figures()["held_fraction"] == 1.0
    assert s.samples("p95_latency_ms") == [s.latency.p95_ms]
    runs = writer.load_results(DATA / "suite_load_runs.json").load_runs
    assert isinstance(runs["storm of 3"], Level) and runs["storm of 3"].ok == 3


def test_an_invalid_bench_derives_an_error_verdict_from_the_typed_figures():
    doc = _doc("bench_a")
    doc.pop("verdict")
    doc["throughput"]["valid"] = False
    doc["throughput"]["invalid_reasons"] = ["storm at 2: a load generator process averaged 0.9"]
    r = Results.model_validate(doc)
    assert r.verdict.status == "error" and "load generator" in r.verdict.reason
    doc = _doc("sessions")
    doc.pop("verdict")
    doc["sessions"]["generator"]["valid"] = False
    assert Results.model_validate(doc).verdict.status == "error"


def test_the_gate_reads_report_dirs_from_before_the_types(tmp_path):
    a, b = _report_dir(tmp_path, "bench_a"), _report_dir(tmp_path, "bench_b")
    checks = gate.compare(gate.read_figures(a), gate.read_figures(b), gate.Thresholds())
    assert gate.outcome(checks)[0] == "passed"
    assert {c.level for c in checks} == {"storm 2"} and len(checks) == 6
    # Its negative twin: the same bench with every start held 0.4 s longer regresses.
    slow = _doc("bench_b")
    [storm] = slow["throughput"]["storms"]
    for key in ("p50_ttfe_s", "p95_ttfe_s"):
        storm["per_repeat"][key] = [v + 0.4 for v in storm["per_repeat"][key]]
    held = gate.compare(
        gate.read_figures(a),
        gate.read_figures(_report_dir(tmp_path, "slow", slow)),
        gate.Thresholds(),
    )
    assert gate.outcome(held)[0] == "regressed"
    assert {c.figure for c in held if c.regressed} >= {"p95 time to first execute (s)"}


def test_an_old_report_still_gates_and_a_lost_figure_is_named(tmp_path):
    new, old = _report_dir(tmp_path, "bench_single"), _report_dir(tmp_path, "bench_old")
    checks = gate.compare(gate.read_figures(new), gate.read_figures(old), gate.Thresholds())
    lost = [c for c in checks if c.regressed]
    # The older bench measured no machine slowdown, so it has no adjusted time: lost, named.
    assert {(c.level, c.verdict) for c in lost} == {
        ("storm 1", "REGRESSED (no figure)"),
        ("storm 4", "REGRESSED (no figure)"),
    }
    assert all("adjusted" in c.figure for c in lost)


def test_a_baseline_made_from_an_old_report_holds_its_figures(tmp_path):
    old = _report_dir(tmp_path, "bench_old")
    baseline = gate.make_baseline(old, tmp_path / "base.json")
    saved = json.loads((tmp_path / "base.json").read_text())
    assert saved["schema"] == gate.BASELINE_SCHEMA and saved["source"] == str(old)
    assert gate.read_figures(tmp_path / "base.json") == gate.read_figures(old) == baseline.figures
    assert set(saved["figures"]["storms"]) == {"1", "4"}


def test_a_malformed_bench_is_refused_in_one_line(tmp_path):
    doc = _doc("bench_a")
    del doc["throughput"]["storms"][0]["concurrency"]
    with pytest.raises(ConfigError) as exc:
        gate.read_figures(_report_dir(tmp_path, "broken", doc))
    assert "storms.0.concurrency" in str(exc.value) and "\n" not in str(exc.value)


def test_the_diff_reads_an_old_report_against_a_new_one(tmp_path):
    d = diff.diff(_report_dir(tmp_path, "bench_single"), _report_dir(tmp_path, "bench_old"))
    assert d.a.verdict.recorded and not d.b.verdict.recorded  # bench_old predates verdicts
    levels = {f.name for f in d.figures if f.group == "throughput"}
    assert levels == {"storm 1", "storm 4"}
    assert d.exit_code == 1 and not d.coverage.complete  # B records no verdict
    repeated = diff.diff(_report_dir(tmp_path, "bench_a"), _report_dir(tmp_path, "bench_b"))
    assert repeated.a.repeats == repeated.b.repeats == 5
    p50 = next(f for f in repeated.figures if f.figure == "p50 time to first execute")
    assert p50.a == [0.3803, 0.3327, 0.341, 0.3567, 0.3838]


def test_one_constructor_fills_the_shared_fields_one_way():
    started = time.time() - 2.0
    r = Results.produced(
        "bench",
        run_id="r1",
        command=["eg-harness", "bench", "--ladder", "1"],
        target={"kind": "local", "versions": {"enterprise_gateway": "3.2.3"}},
        started=started,
        cleanup={"processes": []},
        throughput=_doc("bench_a")["throughput"],
    )
    assert r.command == "eg-harness bench --ladder 1" and r.target.kind == "local"
    assert r.started_at == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    assert 2.0 <= r.duration_s < 60 and r.cleanup == {"processes": []}
    assert isinstance(r.throughput, BenchThroughput) and r.verdict.status == "no-tests"
    given = Results.produced("suite", run_id="r2", command="x", target={"kind": "k"}, started="s")
    assert given.started_at == "s" and given.duration_s is None


def test_read_throughput_refuses_a_storm_without_its_concurrency():
    with pytest.raises(ValueError, match="concurrency"):
        read_throughput({"storms": [{"mode": "storm"}]})


def test_the_history_keeps_each_benchs_figures_and_skips_a_broken_line(tmp_path):
    path = tmp_path / "history.jsonl"
    for name in ("bench_a", "bench_b"):
        summary.append_history(path, writer.load_results(DATA / f"{name}.json").throughput, name)
    with open(path, "a") as fh:
        fh.write('{"run_id": "cut short", "figures": {"storms": {"2": {"p95_ttfe_s": "x"}}}}\n')
    history = summary.read_history(path)
    assert [h.run_id for h in history] == ["bench_a", "bench_b"]
    assert history[0].figures.storms["2"].samples("p50_ttfe_s") == [
        0.3803,
        0.3327,
        0.341,
        0.3567,
        0.3838,
    ]
    assert charts.trend_chart(history)["title"] == "Trend across runs (storm of 2)"
    assert charts.trend_chart(history[:1]) is None  # one run is no trend
