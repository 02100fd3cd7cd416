"""Bench figures, knee, gate and charts from synthetic events: no target needed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eg_harness.errors import ConfigError
from eg_harness.load import gate, logscan, summary
from eg_harness.load.plan import Step
from eg_harness.load.runner import LoadRun
from eg_harness.report.bench_results import BenchFigures, BenchThroughput, Ceiling, Level
from eg_harness.report.html import render_html
from eg_harness.report.model import Results
from pydantic import ValidationError


def _compare(base: dict, cur: dict, th: gate.Thresholds) -> list[gate.Check]:
    """Figures as a baseline file holds them, read the way the gate reads them."""
    return gate.compare(BenchFigures.model_validate(base), BenchFigures.model_validate(cur), th)


def _events(n_ok: int, ttfe: float, *, failed: int = 0, t0: float = 1000.0) -> list[dict]:
    out = []
    for i in range(n_ok):
        j = f"ok{i}"
        out.append(
            {
                "journey": j,
                "kind": "gateway",
                "phase": "start_kernel",
                "start": t0,
                "seconds": 0.05,
                "ok": True,
                "error_kind": None,
                "error": None,
            }
        )
        out.append(
            {
                "journey": j,
                "kind": "gateway",
                "phase": "time_to_first_execute",
                "start": t0,
                "seconds": ttfe * (1 + i / 10),
                "ok": True,
                "error_kind": None,
                "error": None,
            }
        )
    for i in range(failed):
        out.append(
            {
                "journey": f"bad{i}",
                "kind": "gateway",
                "phase": "start_kernel",
                "start": t0,
                "seconds": 0.01,
                "ok": False,
                "error_kind": "HTTP 403",
                "error": "A max kernels limit has been set to 2",
            }
        )
    return out


def _run(users: int, events: list[dict], *, cpu: float | None = 1.0, valid: bool = True):
    return LoadRun(
        Step("storm", users, 60),
        events,
        5.0,
        0,
        {"valid": valid, "busiest_process_cores": 0.1 if valid else 0.95, "limit_cores": 0.8},
        cpu,
        Path("/tmp/x"),
    )


def test_summary_counts_errors_by_kind_and_rates_from_the_makespan():
    s = summary.summarise(_run(4, _events(2, 1.0, failed=2)), cores=2)
    assert s.ok == 2 and s.failed == 2 and s.error_rate == 0.5
    assert s.errors == {"start_kernel: HTTP 403": 2}
    assert "max kernels" in s.error_examples["start_kernel: HTTP 403"]
    assert s.time_to_first_execute_s.max == pytest.approx(1.1)
    assert s.starts_per_s == pytest.approx(2 / 1.1, rel=1e-3)
    assert s.cpu_s_per_start == 0.5 and s.ceiling_starts_per_s == 4.0


def test_journeys_that_never_reported_count_as_failed():
    s = summary.summarise(_run(3, _events(1, 1.0)), cores=2)
    assert s.failed == 2 and s.error_rate == pytest.approx(2 / 3, rel=1e-3)


def test_generator_bottleneck_makes_the_step_invalid():
    assert not summary.summarise(_run(1, _events(1, 1.0), valid=False), cores=2).valid


def _step(n, per_s, failed=0):
    return Level(concurrency=n, starts_per_s=per_s, failed=failed)


def test_knee_where_throughput_stops_rising():
    k = summary.knee([_step(1, 2.0), _step(2, 3.8), _step(5, 3.9), _step(10, 3.5)])
    assert k.concurrency == 2 and "stops rising after 2" in k.reason


def test_knee_where_errors_start():
    k = summary.knee([_step(1, 2.0), _step(2, 3.8), _step(5, 4.5, failed=1)])
    assert k.concurrency == 2 and "errors start at 5" in k.reason


def test_no_knee_while_still_scaling():
    k = summary.knee([_step(1, 2.0), _step(2, 3.8)])
    assert k.concurrency is None and "no knee up to 2" in k.reason


def _figs(p95=1.0, per_s=4.0, err=0.0, valid=True):
    return {
        "valid": valid,
        "storms": {
            "2": {
                "p95_ttfe_s": p95,
                "p50_ttfe_s": p95 / 2,
                "starts_per_s": per_s,
                "error_rate": err,
            }
        },
    }


def test_gate_flags_each_regression_against_its_threshold():
    # Limits the user set judge single figures (defaults would be inconclusive on them).
    th = gate.Thresholds(**gate.Thresholds().model_dump())
    assert th.model_fields_set == set(gate.Thresholds.model_fields)
    assert not [c for c in _compare(_figs(), _figs(p95=1.19, per_s=3.5), th) if c.regressed]
    bad = {
        c.figure for c in _compare(_figs(), _figs(p95=1.25, per_s=3.3, err=0.1), th) if c.regressed
    }
    assert bad == {
        "p95 time to first execute (s)",
        "p50 time to first execute (s)",
        "throughput (starts/s)",
        "error rate",
    }


def test_gate_thresholds_from_yaml(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("p95_ttfe_max_increase: 0.5\n")
    th = gate.load_thresholds(str(path))
    assert th.p95_ttfe_max_increase == 0.5 and th.throughput_max_decrease == 0.15
    path.write_text("p95_ttfe_max_increas: 0.5\n")
    with pytest.raises(ConfigError, match="allowed keys"):
        gate.load_thresholds(str(path))


def test_figures_read_from_baseline_bench_and_report(tmp_path):
    doc = {
        "schema": summary.SCHEMA,
        "valid": True,
        "churn": None,
        "storms": [
            {
                "concurrency": 3,
                "time_to_first_execute_s": {"p95": 0.7, "p50": 0.5},
                "starts_per_s": 4.0,
                "error_rate": 0.0,
            }
        ],
    }
    (tmp_path / "bench.json").write_text(json.dumps(doc))
    (tmp_path / "results.json").write_text(json.dumps({"throughput": doc}))
    assert gate.read_figures(tmp_path / "bench.json").storms["3"].p95_ttfe_s == 0.7
    assert gate.read_figures(tmp_path).storms["3"].starts_per_s == 4.0
    gate.make_baseline(tmp_path, tmp_path / "base.json")
    assert gate.read_figures(tmp_path / "base.json").storms["3"].error_rate == 0.0
    (tmp_path / "other.json").write_text("{}")
    with pytest.raises(ConfigError, match="no bench figures"):
        gate.read_figures(tmp_path / "other.json")


def _gate_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "eg_harness", "gate", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_gate_cli_exit_codes(tmp_path):
    def write(name, figs):
        p = tmp_path / name
        p.write_text(json.dumps({"schema": gate.BASELINE_SCHEMA, "figures": figs}))
        return str(p)

    base = write("base.json", _figs())
    same = _gate_cli("--baseline", base, "--current", write("same.json", _figs(p95=1.05)))
    assert same.returncode == 0, same.stdout + same.stderr
    slow_json = write("slow.json", _figs(p95=2.0))
    # Single runs past a default limit: inconclusive (exit 5), never a regression.
    slow = _gate_cli("--baseline", base, "--current", slow_json)
    assert slow.returncode == 5 and "INCONCLUSIVE" in slow.stdout, slow.stdout
    assert "p95 time to first execute" in slow.stdout and "--repeat 4" in slow.stdout
    # The same figures against a limit the user set: a regression.
    set_limit = _gate_cli(
        "--baseline", base, "--current", slow_json, "--limit", "p95_ttfe_max_increase=0.2"
    )
    assert set_limit.returncode == 1 and "REGRESSION" in set_limit.stdout, set_limit.stdout
    invalid = _gate_cli("--baseline", base, "--current", write("inv.json", _figs(valid=False)))
    assert invalid.returncode == 4 and "invalid" in invalid.stderr, invalid.stderr
    chosen = gate.Thresholds(p95_ttfe_max_increase=0.2)
    md = gate.markdown(_compare(_figs(), _figs(p95=2.0), chosen), "t")
    assert "❌ REGRESSION" in md and "| storm 2 | p95 time to first execute (s) |" in md
    missing = _gate_cli("--baseline", str(tmp_path / "nope.json"))
    assert missing.returncode == 2 and "not found" in missing.stderr


def test_report_inlines_charts_and_refuses_anything_not_base64():
    doc = {"run_id": "r", "target": {"kind": "local"}}
    html = render_html(
        Results.model_validate({**doc, "charts": [{"title": "ok chart", "png": "iVBORw0KGgo="}]})
    )
    assert 'src="data:image/png;base64,iVBORw0KGgo="' in html
    evil = {"title": "evil", "png": '"><script>alert(1)</script>'}
    with pytest.raises(ValidationError):
        Results.model_validate({**doc, "charts": [evil]})


def test_charts_render_from_summaries():
    from eg_harness.report import charts

    steps = [summary.summarise(_run(n, _events(n, 0.5)), cores=2) for n in (1, 2)]
    for chart in (
        charts.latency_chart(steps),
        charts.throughput_chart(steps, Ceiling(measured=False)),
        charts.timeline_chart(_events(2, 0.5), "t"),
    ):
        assert chart["png"].startswith("iVBOR"), chart["title"]  # a PNG signature


def test_log_findings_count_known_signatures(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text("ok\nzmq.error.ZMQError: Address already in use\nAddress already in use\n")
    meaning = logscan.LOG_SIGNATURES[0][1]
    assert logscan.log_findings(log) == [["Address already in use", 2, meaning]]
    assert logscan.log_findings(tmp_path / "missing.log") == []


def test_repeats_pool_into_one_summary_keeping_each_repeats_figures():
    runs = [
        _run(2, _events(2, 1.0, t0=1000.0)),
        _run(2, _events(2, 2.0, t0=2000.0)),
        _run(2, _events(1, 3.0, failed=1, t0=3000.0), valid=False),
    ]
    per = [summary.summarise(r, cores=2) for r in runs]
    s = summary.pool(runs, per, cores=2)
    assert s.repeats == 3 and s.journeys == 6 and s.ok == 5 and s.failed == 1
    assert s.error_rate == round(1 / 6, 4) and s.errors == {"start_kernel: HTTP 403": 1}
    # Percentiles over every journey of every repeat; the rate is the median repeat's.
    assert s.time_to_first_execute_s.count == 5 and len(s.ttfe_samples_s) == 5
    assert s.starts_per_s == sorted(p.starts_per_s for p in per)[1]
    assert s.per_repeat["p95_ttfe_s"] == [p.time_to_first_execute_s.p95 for p in per]
    assert s.per_repeat["error_rate"] == [0.0, 0.0, 0.5]
    # One repeat whose generator was the bottleneck makes the whole level invalid.
    assert not s.valid and not s.generator.valid
    assert s.cpu_s_per_start == round(3.0 / 5, 4)
    figs = BenchThroughput(storms=[s], valid=False, repeats=3).figures()
    assert figs.repeats == 3 and figs.storms["2"].per_repeat["starts_per_s"]
    assert figs.storms["2"].samples("starts_per_s") == s.per_repeat["starts_per_s"]
