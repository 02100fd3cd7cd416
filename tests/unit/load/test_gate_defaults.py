"""The gate's defaults are trustworthy: a default limit never calls a regression on figures whose
noise the gate cannot see (single runs, or too few repeats); it says INCONCLUSIVE (exit 5) and
what to do. A limit the user set still judges single runs. One test per case of the table in
docs/bench-and-gate.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from eg_harness.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_OK, ConfigError
from eg_harness.load import gate
from eg_harness.report.bench_results import BenchFigures
from eg_harness.stats import noise


def _compare(base: dict, cur: dict, th: gate.Thresholds) -> list[gate.Check]:
    """Figures as a baseline file holds them, read the way the gate reads them."""
    return gate.compare(BenchFigures.model_validate(base), BenchFigures.model_validate(cur), th)


P50 = "p50 time to first execute (s)"


def _single(p50: float) -> dict:
    """One bench level without repeats, as `bench --ladder 1,2,4` saves it."""
    return {
        "valid": True,
        "storms": {"2": {"p50_ttfe_s": p50, "starts_per_s": 1.0, "error_rate": 0.0}},
    }


def _repeated(p50s: list[float]) -> dict:
    level = {
        "p50_ttfe_s": sum(p50s) / len(p50s),
        "starts_per_s": 1.0,
        "error_rate": 0.0,
        "per_repeat": {
            "p50_ttfe_s": p50s,
            "starts_per_s": [1.0] * len(p50s),
            "error_rate": [0.0] * len(p50s),
        },
    }
    return {"valid": True, "storms": {"2": level}}


def _p50(checks: list[gate.Check]) -> gate.Check:
    return next(c for c in checks if c.figure == P50)


def test_the_reported_case_two_correct_single_runs_22_percent_apart_are_inconclusive():
    # Issue 22: "storm 2 p50 time to first execute +22%, limit +20% (single runs: noise
    # unknown)" failed a correct second bench. Now the default limit cannot fail it.
    checks = _compare(_single(1.00), _single(1.22), gate.Thresholds())
    c = _p50(checks)
    assert c.inconclusive and not c.regressed
    assert c.verdict == "INCONCLUSIVE (single runs: noise unknown; default limit)"
    assert "--repeat 4 or more" in c.sureness and "--limit p50_ttfe_max_increase=" in c.sureness
    assert gate.outcome(checks)[0] == "inconclusive"
    assert "INCONCLUSIVE" in gate.markdown(checks, "t") and "(default)" in c.limit


def test_single_runs_within_a_default_limit_pass_and_say_the_noise_is_unknown():
    checks = _compare(_single(1.00), _single(1.10), gate.Thresholds())
    c = _p50(checks)
    assert not c.inconclusive and not c.regressed
    assert c.verdict == "ok (single runs: noise unknown)"
    assert gate.outcome(checks)[0] == "passed"


def test_a_limit_the_user_set_judges_single_runs():
    th = gate.load_thresholds(None, ["p50_ttfe_max_increase=0.2"])
    assert th.model_fields_set == {"p50_ttfe_max_increase"}
    checks = _compare(_single(1.00), _single(1.22), th)
    c = _p50(checks)
    assert c.regressed and not c.inconclusive and "(default)" not in c.limit
    assert gate.outcome(checks)[0] == "regressed"


def test_a_limit_set_in_the_thresholds_file_judges_single_runs(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("p50_ttfe_max_increase: 0.2\n")
    th = gate.load_thresholds(str(path))
    assert th.model_fields_set == {"p50_ttfe_max_increase"}
    assert _p50(_compare(_single(1.00), _single(1.22), th)).regressed
    # The file's other limits stay defaults: a p95 past its default is still inconclusive.
    figs_a = {"valid": True, "storms": {"2": {"p95_ttfe_s": 1.0, "p50_ttfe_s": 1.0}}}
    figs_b = {"valid": True, "storms": {"2": {"p95_ttfe_s": 1.5, "p50_ttfe_s": 1.0}}}
    p95 = next(c for c in _compare(figs_a, figs_b, th) if c.figure.startswith("p95"))
    assert p95.inconclusive and not p95.regressed


def test_one_side_repeated_the_other_single_is_still_noise_unknown():
    checks = _compare(_repeated([1.0, 1.02, 0.98, 1.01, 0.99]), _single(1.5), gate.Thresholds())
    c = _p50(checks)
    assert c.change.verdict == "no spread" and c.inconclusive and not c.regressed


def test_too_few_repeats_past_a_default_limit_are_inconclusive():
    assert noise.min_repeats(0.95) == 4  # 3 vs 3 can never show a change at 95%
    checks = _compare(_repeated([1.0, 1.02, 0.98]), _repeated([1.5, 1.52, 1.48]), gate.Thresholds())
    c = _p50(checks)
    assert c.change.verdict == "too few" and c.inconclusive
    assert c.verdict == "INCONCLUSIVE (too few repeats: noise unknown; default limit)"


def test_enough_repeats_judge_a_default_limit_against_the_noise():
    base = _repeated([1.0, 1.02, 0.98, 1.01, 0.99])
    held = _compare(base, _repeated([1.5, 1.52, 1.48, 1.51, 1.49]), gate.Thresholds())
    assert _p50(held).regressed and not _p50(held).inconclusive
    assert gate.outcome(held)[0] == "regressed"
    normal = _compare(base, _repeated([1.01, 1.0, 1.03, 0.99, 1.0]), gate.Thresholds())
    assert gate.outcome(normal)[0] == "passed"


def test_a_figure_the_current_bench_lost_is_a_regression_whatever_the_repeats():
    base = _single(1.0)
    lost = {"valid": True, "storms": {"2": {"starts_per_s": 1.0, "error_rate": 0.0}}}
    c = _p50(_compare(base, lost, gate.Thresholds()))
    assert c.change.verdict == "missing" and c.regressed


def test_a_regression_outranks_an_inconclusive_check():
    th = gate.load_thresholds(None, ["throughput_max_decrease=0.15"])
    a = _single(1.0)
    b = {"valid": True, "storms": {"2": {"p50_ttfe_s": 1.5, "starts_per_s": 0.5}}}
    a["storms"]["2"]["starts_per_s"] = 1.0
    checks = _compare(a, b, th)
    assert _p50(checks).inconclusive
    assert next(c for c in checks if c.figure.startswith("throughput")).regressed
    assert gate.outcome(checks)[0] == "regressed"


@pytest.mark.parametrize("bad", ["p50=0.3", "p50_ttfe_max_increase", "p50_ttfe_max_increase=x"])
def test_a_bad_limit_is_a_one_line_usage_error(bad):
    with pytest.raises(ConfigError, match="--limit"):
        gate.load_thresholds(None, [bad])


def _gate(tmp_path, base: dict, cur: dict, *extra: str) -> subprocess.CompletedProcess:
    paths = []
    for name, figs in (("base.json", base), ("cur.json", cur)):
        p = tmp_path / name
        p.write_text(json.dumps({"schema": gate.BASELINE_SCHEMA, "figures": figs}))
        paths.append(str(p))
    return subprocess.run(
        [sys.executable, "-m", "eg_harness", "gate", "--baseline", paths[0], "--current", paths[1]]
        + list(extra),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_exit_codes_for_each_case(tmp_path):
    inconclusive = _gate(tmp_path, _single(1.0), _single(1.22))
    assert inconclusive.returncode == EXIT_INCONCLUSIVE, inconclusive.stdout
    [line] = [x for x in inconclusive.stdout.splitlines() if x.startswith("INCONCLUSIVE")]
    assert "--repeat 4 or more" in line and "--limit p50_ttfe_max_increase=VALUE" in line
    chosen = _gate(tmp_path, _single(1.0), _single(1.22), "--limit", "p50_ttfe_max_increase=0.2")
    assert chosen.returncode == EXIT_FAILED and "REGRESSION" in chosen.stdout
    loose = _gate(tmp_path, _single(1.0), _single(1.22), "--limit", "p50_ttfe_max_increase=0.3")
    assert loose.returncode == EXIT_OK and "gate passed" in loose.stdout
    within = _gate(tmp_path, _single(1.0), _single(1.1))
    assert within.returncode == EXIT_OK and "noise unknown" in within.stdout
