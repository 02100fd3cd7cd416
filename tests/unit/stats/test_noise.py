"""The statistics that judge changes against noise (eg_harness.stats.noise), on synthetic samples
whose distributions are known, and the noise-aware gate built on them."""

from __future__ import annotations

import numpy as np
import pytest
from eg_harness.load import gate
from eg_harness.report.bench_results import BenchFigures
from eg_harness.stats import noise


def _compare(base: dict, cur: dict, th: gate.Thresholds) -> list[gate.Check]:
    """Figures as a baseline file holds them, read the way the gate reads them."""
    return gate.compare(BenchFigures.model_validate(base), BenchFigures.model_validate(cur), th)


def _lognormal(rng, median: float, n: int, sigma: float = 0.25) -> np.ndarray:
    return rng.lognormal(np.log(median), sigma, n)


def test_estimate_covers_the_true_median_about_as_often_as_it_says_and_narrows():
    rng = np.random.default_rng(7)
    covered = 0
    for _ in range(80):
        e = noise.estimate(rng.normal(10, 1, 30), "median", resamples=1000)
        covered += e.low <= 10 <= e.high
    assert covered >= 80 * 0.85, covered  # nominally 95%; the percentile method runs a bit short
    small = noise.estimate(rng.normal(10, 1, 10), "median")
    large = noise.estimate(rng.normal(10, 1, 400), "median")
    assert (large.high - large.low) < (small.high - small.low) / 3


def test_estimate_of_one_value_has_no_interval():
    one = noise.estimate([2.5], "p95")
    assert one.value == 2.5 and not one.has_interval and one.n == 1
    assert noise.estimate([], "p95").value is None


def test_a_shift_far_beyond_the_spread_is_a_sure_regression():
    rng = np.random.default_rng(3)
    base = _lognormal(rng, 2.0, 5, sigma=0.05)
    slow = base + 1.5  # a kernel start held 1.5 s, on a ~5% spread
    c = noise.compare(base, slow, threshold=0.2)
    assert c.verdict == "regressed" and c.regressed and c.beyond == 1.0
    assert c.low > 0.2 and c.relative
    assert "the whole interval is past the limit" in c.describe()


def test_overlapping_samples_are_not_shown_to_regress():
    a = [1.2, 1.9, 2.5, 1.6, 2.2]
    b = [1.3, 2.0, 2.6, 1.7, 2.3]
    c = noise.compare(a, b, threshold=0.2)
    assert c.verdict == "unsure" and not c.regressed
    assert 0 < c.beyond < 1 and c.low < 0.2 < c.high
    assert "not shown to regress" in c.describe()


def test_direction_and_absolute_changes():
    # Throughput: lower is worse.
    drop = noise.compare(
        [4.0, 4.1, 3.9, 4.0], [2.0, 2.1, 1.9, 2.0], threshold=0.15, direction="lower_is_worse"
    )
    assert drop.verdict == "regressed" and drop.change == pytest.approx(-0.5, abs=0.02)
    rise = noise.compare(
        [4.0, 4.1, 3.9, 4.0], [6.0, 6.1, 5.9, 6.0], threshold=0.15, direction="lower_is_worse"
    )
    assert rise.verdict == "improved"
    # An error rate from 0: a relative change is undefined, so the change is absolute.
    err = noise.compare([0.0] * 4, [0.5] * 4, threshold=0.0, relative=True)
    assert not err.relative and err.change == 0.5 and err.verdict == "regressed"


def test_too_few_repeats_cannot_show_a_change_however_far_apart():
    # 2 vs 2: B above A in every value happens 1 time in 6 by chance alone.
    c = noise.compare([1.0, 1.1], [5.0, 5.1], threshold=0.2)
    assert c.verdict == "too few" and not c.regressed and c.low is not None
    assert "too few to show a change" in c.describe()
    assert noise.compare([1.0, 1.1, 1.05, 0.95], [5.0, 5.1, 4.9, 5.0], threshold=0.2).regressed


def test_single_figures_have_no_spread_and_say_so():
    c = noise.compare([2.0], [3.0], threshold=0.2)
    assert c.verdict == "no spread" and c.beyond is None and c.change == pytest.approx(0.5)
    assert "cannot be judged against noise" in c.describe()
    assert noise.compare([], [1.0]).verdict == "missing"


def test_same_inputs_give_the_same_interval():
    a, b = [1.0, 1.4, 1.1, 1.3], [1.2, 1.5, 1.6, 1.1]
    assert noise.compare(a, b) == noise.compare(a, b)


def test_false_alarms_are_rare_and_real_shifts_are_found():
    """Properties of the method itself: with three repeats per side drawn from one
    distribution (25% spread, noisier than this machine's storms of two), a 20% threshold is
    almost never crossed; with eight repeats a 1.5 s hold on 2 s starts is found nearly
    always. (Measured over 200 draws: 0% false alarms at n=3; 90% found at n=8.)"""
    rng = np.random.default_rng(11)
    trials = 60
    false = sum(
        noise.compare(
            _lognormal(rng, 2.0, 3), _lognormal(rng, 2.0, 3), threshold=0.2, resamples=1000
        ).regressed
        for _ in range(trials)
    )
    found = sum(
        noise.compare(
            _lognormal(rng, 2.0, 8), _lognormal(rng, 2.0, 8) + 1.5, threshold=0.2, resamples=1000
        ).regressed
        for _ in range(trials)
    )
    assert false <= trials * 0.025, false  # at most the one-sided 2.5% of a 95% interval
    assert found >= trials * 0.75, found


def test_proportion_is_exact_and_says_what_zero_errors_prove():
    p = noise.proportion(0, 20)
    assert p.value == 0 and p.low == 0 and p.high == pytest.approx(0.1684, abs=1e-3)
    assert noise.proportion(5, 10).low < 0.5 < noise.proportion(5, 10).high
    assert noise.trials_to_show(0.001) == 2995  # the rule of three
    assert noise.trials_to_show(0) is None


def _level(p95s, rates, errs=None):
    errs = errs or [0.0] * len(p95s)
    return {
        "p95_ttfe_s": float(np.median(p95s)),
        "p50_ttfe_s": float(np.median(p95s)) / 2,
        "starts_per_s": float(np.median(rates)),
        "error_rate": float(np.median(errs)),
        "per_repeat": {
            "p95_ttfe_s": p95s,
            "p50_ttfe_s": [v / 2 for v in p95s],
            "starts_per_s": rates,
            "error_rate": errs,
        },
    }


def _figs(**levels):
    return {"valid": True, "storms": {k.strip("s"): v for k, v in levels.items()}}


def test_gate_judges_repeats_against_their_spread():
    th = gate.Thresholds()
    base = _figs(
        s1=_level([1.24, 1.89, 2.50, 1.6, 2.1], [0.81, 0.53, 0.40, 0.6, 0.5]),
        s2=_level([2.10, 1.93, 2.11, 2.0, 2.05], [0.95, 1.0, 0.94, 0.97, 0.96]),
    )
    # Another normal run: storm 1's spread is wide (+20% on its mean is within the noise).
    normal = _figs(
        s1=_level([1.6, 2.4, 2.9, 1.9, 2.2], [0.6, 0.42, 0.35, 0.5, 0.45]),
        s2=_level([2.2, 2.0, 2.15, 2.1, 2.05], [0.9, 0.98, 0.93, 0.95, 0.96]),
    )
    checks = _compare(base, normal, th)
    assert not [c for c in checks if c.regressed], [c.row() for c in checks]
    assert {c.verdict for c in checks} <= {"ok", "not shown", "ok (better)"}
    # Held 1.5 s: storm 2 is past the limit as a whole interval.
    held = _figs(
        s1=_level([2.9, 3.4, 4.0, 3.1, 3.6], [0.33, 0.29, 0.25, 0.3, 0.28]),
        s2=_level([3.5, 3.6, 3.7, 3.55, 3.65], [0.55, 0.53, 0.52, 0.54, 0.53]),
    )
    bad = {(c.level, c.figure) for c in _compare(base, held, th) if c.regressed}
    assert ("storm 2", "p95 time to first execute (s)") in bad
    assert ("storm 2", "throughput (starts/s)") in bad
    row = next(c for c in _compare(base, held, th) if c.level == "storm 2").row()
    assert row[2] == "2.038 (n=5: 1.930..2.110)" and row[7] == "REGRESSED"
    assert row[8].startswith("sure at 95%")
    # Three repeats a side are too few to show anything at 95%: judged on the figures alone.
    three = {
        k: {**v, "per_repeat": {f: x[:3] for f, x in v["per_repeat"].items()}}
        for k, v in held["storms"].items()
    }
    base3 = {
        k: {**v, "per_repeat": {f: x[:3] for f, x in v["per_repeat"].items()}}
        for k, v in base["storms"].items()
    }
    p95 = next(
        c
        for c in _compare({"storms": base3}, {"storms": three}, th)
        if c.level == "storm 2" and c.figure.startswith("p95")
    )
    # Past the default limit, with noise it cannot see: inconclusive, not a regression.
    assert p95.verdict == "INCONCLUSIVE (too few repeats: noise unknown; default limit)"
    assert not p95.regressed and p95.inconclusive


def test_gate_without_repeats_compares_single_figures_and_says_noise_is_unknown():
    single = {
        "valid": True,
        "storms": {"2": {"p95_ttfe_s": 2.0, "starts_per_s": 1.0, "error_rate": 0.0}},
    }
    slower = {
        "valid": True,
        "storms": {"2": {"p95_ttfe_s": 2.6, "starts_per_s": 1.0, "error_rate": 0.0}},
    }
    checks = _compare(single, slower, gate.Thresholds(p95_ttfe_max_increase=0.2))
    p95 = next(c for c in checks if c.figure.startswith("p95"))
    assert p95.regressed and p95.verdict == "REGRESSED (single runs: noise unknown)"
    assert "cannot tell" in p95.sureness


def _level_m(p50s, slowdowns):
    adj = [p / s for p, s in zip(p50s, slowdowns)]
    return {
        "p95_ttfe_s": max(p50s),
        "p50_ttfe_s": float(np.mean(p50s)),
        "starts_per_s": 1.0,
        "error_rate": 0.0,
        "per_repeat": {
            "p95_ttfe_s": p50s,
            "p50_ttfe_s": p50s,
            "starts_per_s": [2 / p for p in p50s],
            "error_rate": [0.0] * len(p50s),
            "machine_slowdown": slowdowns,
            "p50_ttfe_adjusted_s": adj,
        },
    }


def test_a_busier_machine_is_not_a_regression_but_a_held_start_still_is():
    th = gate.Thresholds()
    base = _figs(s2=_level_m([1.0, 1.1, 0.95, 1.05, 1.0], [1.5, 1.6, 1.45, 1.55, 1.5]))
    # The neighbours doubled their load: every time doubled with the machine's slowdown.
    busy = _figs(s2=_level_m([2.0, 2.2, 1.9, 2.1, 2.0], [3.0, 3.2, 2.9, 3.1, 3.0]))
    checks = _compare(base, busy, th)
    assert not [c for c in checks if c.regressed], [c.row() for c in checks]
    machine = next(c for c in checks if c.figure == gate.MACHINE)
    assert machine.verdict == "busier" and not machine.regressed
    raw = next(c for c in checks if c.figure == "p50 time to first execute (s)")
    assert raw.change.verdict == "regressed" and raw.verdict == "not judged: the machine was busier"
    # Held 1.5 s on the same busier machine: the adjusted time still clears the threshold.
    held = _figs(s2=_level_m([3.5, 3.7, 3.4, 3.6, 3.5], [3.0, 3.2, 2.9, 3.1, 3.0]))
    bad = {c.figure for c in _compare(base, held, th) if c.regressed}
    assert bad == {"p50 time to first execute, adjusted for machine load (s)"}


def test_the_contention_probe_measures_this_machine():
    from eg_harness.load import cpu
    from eg_harness.runtime.waits import wait_for

    probe = cpu.ContentionProbe()
    wait_for("two probe samples", lambda: len(probe.series) >= 2, 10)
    got = probe.judge(None)
    assert got["samples"] >= 2 and got["slowdown"] >= 0.99, got  # wall time >= CPU time
    assert probe.judge((0.0, 1.0))["slowdown"] is None  # no sample in a window long past
