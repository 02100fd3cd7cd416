"""How sure a figure is: bootstrap confidence intervals, and changes judged against noise.

Two normal benches on a busy 2-core machine differ by tens of percent, so a gate or a diff that
compares single figures either cries wolf or needs thresholds so loose that a real regression
slips through. Here a change is an interval, not a number: the samples of each side (per-repeat
figures, or the journeys of one run) are resampled with scipy's bootstrap, and a change counts
as a regression only when the whole interval lies beyond the threshold. The share of resamples
beyond the threshold says how sure the verdict is. Resampling is seeded, so the same inputs
always give the same verdict.

Proportions (error rates) use the exact binomial interval instead: a bootstrap of zero errors
in 20 journeys would claim the rate is exactly 0, while 20 journeys only bound it below 17%.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np

CONFIDENCE = 0.95
RESAMPLES = 4000
SEED = 20260  # fixed: a verdict must not change between two readings of the same files

# Repeats are compared by their mean: with a handful of repeats its bootstrap interval is tighter
# than the median's (whose resamples can only take the observed values), and the bootstrap keeps
# one outlying repeat from deciding a verdict (the resamples without it bound the interval).
REPEAT_STATISTIC = "mean"

Statistic = Literal["median", "mean", "p50", "p95", "p99", "max"]
Direction = Literal["higher_is_worse", "lower_is_worse"]


def _stat(name: str) -> Callable[..., Any]:
    """A vectorised statistic over ``axis`` (scipy passes resampled batches)."""
    if name in ("median", "p50"):
        return lambda x, axis=-1: np.median(x, axis=axis)
    if name == "mean":
        return lambda x, axis=-1: np.mean(x, axis=axis)
    if name == "max":
        return lambda x, axis=-1: np.max(x, axis=axis)
    if name in ("p95", "p99"):
        q = float(name[1:])
        return lambda x, axis=-1: np.percentile(x, q, axis=axis)
    raise ValueError(f"unknown statistic {name!r}")


@dataclass(frozen=True)
class Estimate:
    """A statistic of one sample with its bootstrap interval (None with fewer than 2 values)."""

    statistic: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    confidence: float

    @property
    def has_interval(self) -> bool:
        return self.low is not None and self.high is not None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def estimate(
    samples: Sequence[float],
    statistic: Statistic = "median",
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
) -> Estimate:
    xs = np.asarray([float(v) for v in samples if v is not None and math.isfinite(v)])
    if xs.size == 0:
        return Estimate(statistic, None, None, None, 0, confidence)
    value = float(_stat(statistic)(xs))
    if xs.size < 2:
        return Estimate(statistic, value, None, None, int(xs.size), confidence)
    f = _stat(statistic)
    res = _bootstrap((xs,), lambda x, axis: f(x, axis=axis), confidence, resamples)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return Estimate(statistic, value, lo, hi, int(xs.size), confidence)


@dataclass(frozen=True)
class Change:
    """How a figure moved from A to B, as an interval.

    ``relative`` changes are (B/A - 1); when A's statistic is 0 the change is absolute
    (B - A) instead, which ``relative`` says. ``beyond`` is the share of bootstrap resamples
    past the threshold in the bad direction: how sure a regression is.
    """

    statistic: str
    a: float | None
    b: float | None
    change: float | None
    low: float | None
    high: float | None
    relative: bool
    n_a: int
    n_b: int
    confidence: float
    verdict: Literal["regressed", "improved", "ok", "unsure", "too few", "no spread", "missing"]
    beyond: float | None  # share of resamples past the threshold, bad direction
    threshold: float
    direction: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def regressed(self) -> bool:
        return self.verdict == "regressed"

    def describe(self) -> str:
        """One line a person reads: the change, its interval, and how sure the verdict is."""
        if self.verdict == "missing":
            return "missing on one side"

        def fmt(v: float) -> str:
            return f"{v * 100:+.0f}%" if self.relative else f"{v:+.3g}"

        lim = fmt(self.threshold if self.direction == "higher_is_worse" else -self.threshold)
        if self.verdict == "too few":
            return (
                f"{fmt(self.change)} ({self.n_a} vs {self.n_b} repeats are too few to show a "
                f"change at {round(self.confidence * 100)}%: run more repeats; limit {lim})"
            )
        if self.verdict == "no spread":
            return (
                f"{fmt(self.change)} (single figures: {self.n_a} vs {self.n_b} repeat(s), so the "
                f"change cannot be judged against noise; limit {lim})"
            )
        ci = f"{round(self.confidence * 100)}% CI {fmt(self.low)}..{fmt(self.high)}"
        sure = f"{self.beyond:.0%} of resamples past {lim}" if self.beyond is not None else ""
        tail = {
            "regressed": "the whole interval is past the limit",
            "improved": "better beyond the noise",
            "ok": "the whole interval is within the limit",
            "unsure": "the interval straddles the limit: not shown to regress",
        }[self.verdict]
        return f"{fmt(self.change)} ({ci}; {sure}; {tail})"


def compare(
    a: Sequence[float],
    b: Sequence[float],
    *,
    threshold: float = 0.0,
    direction: Direction = "higher_is_worse",
    statistic: Statistic = "median",
    relative: bool = True,
    confidence: float = CONFIDENCE,
    resamples: int = RESAMPLES,
) -> Change:
    """Judge B against A: ``regressed`` only when the whole interval of the change lies past
    ``threshold`` in the bad direction; ``improved`` when it lies wholly on the good side of
    no change; ``ok`` when it lies wholly within the threshold; ``unsure`` otherwise.

    With fewer than two values on a side there is no spread to judge noise by: the verdict is
    then ``no spread`` and the caller decides (the gate falls back to the single figures and
    says so; the diff reports the change as not judged).
    """
    xa = np.asarray([float(v) for v in a if v is not None and math.isfinite(v)])
    xb = np.asarray([float(v) for v in b if v is not None and math.isfinite(v)])
    f = _stat(statistic)
    sa = float(f(xa)) if xa.size else None
    sb = float(f(xb)) if xb.size else None
    rel = relative and bool(sa)
    common = dict(
        statistic=statistic,
        a=sa,
        b=sb,
        relative=rel,
        n_a=int(xa.size),
        n_b=int(xb.size),
        confidence=confidence,
        threshold=threshold,
        direction=direction,
    )
    if sa is None or sb is None:
        return Change(**common, change=None, low=None, high=None, verdict="missing", beyond=None)

    def delta(x, y, axis=-1):
        fx, fy = f(x, axis=axis), f(y, axis=axis)
        return fy / fx - 1 if rel else fy - fx

    point = float(delta(xa, xb))
    if xa.size < 2 or xb.size < 2:
        return Change(**common, change=point, low=None, high=None, verdict="no spread", beyond=None)
    # A floor under the bootstrap, which at a handful of values draws intervals too narrow:
    # even if every value of B lay beyond every value of A, that ordering has a chance of
    # 1 / C(n_a + n_b, n_a) when nothing changed. If that chance is above the interval's
    # one-sided error, no interval from these samples can show a change (2 vs 2 repeats: 1 in 6).
    too_few = _too_few(int(xa.size), int(xb.size), confidence)
    res = _bootstrap((xa, xb), lambda x, y, axis: delta(x, y, axis=axis), confidence, resamples)
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    sign = 1.0 if direction == "higher_is_worse" else -1.0
    beyond = float(np.mean(np.asarray(res.bootstrap_distribution) * sign > threshold))
    bad_lo, bad_hi = sorted((lo * sign, hi * sign))  # the interval, worse = larger
    if too_few:
        verdict = "too few"
    elif bad_lo > threshold:
        verdict = "regressed"
    elif bad_hi < 0:
        verdict = "improved"
    elif bad_hi <= threshold:
        verdict = "ok"
    else:
        verdict = "unsure"
    return Change(**common, change=point, low=lo, high=hi, verdict=verdict, beyond=beyond)


def _too_few(n_a: int, n_b: int, confidence: float) -> bool:
    return math.comb(n_a + n_b, n_a) * (1 - confidence) / 2 < 1


def min_repeats(confidence: float = CONFIDENCE) -> int:
    """The fewest repeats a side for which ``compare`` can show a change at ``confidence``
    (95%: 4 a side; 3 vs 3 can never clear the ordering floor): what to ask a user for."""
    n = 2
    while _too_few(n, n, confidence):
        n += 1
    return n


def proportion(k: int, n: int, confidence: float = CONFIDENCE) -> Estimate:
    """A rate of k events in n trials with its exact (Clopper-Pearson) interval."""
    if n <= 0:
        return Estimate("proportion", None, None, None, 0, confidence)
    from scipy import stats  # noqa: PLC0415 - scipy costs ~1 s at import; see _bootstrap

    ci = stats.binomtest(int(k), int(n)).proportion_ci(confidence, method="exact")
    return Estimate("proportion", k / n, float(ci.low), float(ci.high), int(n), confidence)


def trials_to_show(rate_limit: float, confidence: float = CONFIDENCE) -> int | None:
    """How many error-free trials an exact interval needs to show a rate below ``rate_limit``
    (the 'rule of three' at 95%)."""
    if not 0 < rate_limit < 1:
        return None
    return math.ceil(math.log(1 - confidence) / math.log(1 - rate_limit))


def spread(values: Sequence[float]) -> str:
    """A figure with its spread: the mean, and min..max over n repeats when there are several."""
    vs = [float(v) for v in values]
    if not vs:
        return "-"
    mean = sum(vs) / len(vs)
    if len(vs) == 1:
        return f"{mean:.3f}"
    return f"{mean:.3f} (n={len(vs)}: {min(vs):.3f}..{max(vs):.3f})"


def _bootstrap(samples: tuple, statistic, confidence: float, resamples: int):
    """scipy's percentile bootstrap, seeded so a figure reads the same twice."""
    # Imported on first use: scipy costs about a second, and the report and the CLI import
    # this module whether or not a run has figures to judge.
    from scipy import stats  # noqa: PLC0415 - ~1 s at import, only a judgement needs it

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # degenerate (all-equal) samples: the interval is a point
        return stats.bootstrap(
            samples,
            statistic,
            confidence_level=confidence,
            n_resamples=resamples,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(SEED),
        )
