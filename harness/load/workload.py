"""Workload and SLO files: what a real event looks like, and what it must meet.

A ladder of storms says how a gateway scales; an operator planning a class start asks something
else: 40 students arrive within two minutes, most open a Python notebook and a few a Spark one,
each runs a handful of cells with pauses between them, and the event must give p95 time to
first execute under 30 s, almost no errors and no kernels left behind. The file says exactly
that (users, arrival rate, profile mix, notebook, duration, objectives); `eg-harness bench
--workload FILE` runs it through the bench pipeline (plan -> runner -> summary) as one locust
step, and `judge` gives each objective a verdict with the measured value and its confidence
interval (eg_harness.stats.noise): a percentile's interval by bootstrap over the sessions, an error
rate's by the exact binomial interval. A verdict follows the measured value; the interval says
whether the run was large enough to be sure.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

import yaml
from eg_harness.errors import ConfigError
from eg_harness.stats import noise
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

SCHEMA = "eg-harness-workload/1"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Profile(_Strict):
    """One choice a user makes when starting (a hub profile, a kernelspec, Spark sizes)."""

    name: str
    weight: float = Field(1.0, gt=0)
    kernelspec: str | None = None  # None: the target's kernelspec
    env: dict[str, str] = Field(default_factory=dict)  # KERNEL_* for the gateway journey
    user_options: dict[str, Any] = Field(default_factory=dict)  # the hub journey's spawn options


class Notebook(_Strict):
    """What each user's notebook does once its kernel answered a first `1 + 1`."""

    cells: int = Field(3, ge=1, le=1000)  # cells per pass through the notebook
    output_bytes: int = Field(0, ge=0, le=8 * 1024 * 1024)  # printed by each cell
    cell_seconds: float = Field(0.0, ge=0, le=3600)  # compute time of each cell (in the kernel)
    think_s: tuple[float, float] = (1.0, 3.0)  # the user's pause before each cell, uniform
    then: Literal["idle", "repeat", "close"] = "idle"  # after the last cell, until the end

    @model_validator(mode="after")
    def _think_range(self) -> Notebook:
        lo, hi = self.think_s
        if lo < 0 or hi < lo:
            raise ValueError("think_s must be [low, high] seconds with 0 <= low <= high")
        return self

    def code(self) -> str:
        """One cell's source: compute for cell_seconds, then print output_bytes."""
        parts = []
        if self.cell_seconds:
            parts.append(f"import time; time.sleep({self.cell_seconds!r})")
        parts.append(f"print('x' * {self.output_bytes})" if self.output_bytes else "1 + 1")
        return "\n".join(parts)


class Arrival(_Strict):
    rate_per_s: float = Field(gt=0)  # users arriving per second (locust's spawn rate)


class Limit(_Strict):
    max: float | None = Field(None, ge=0)
    min: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _one(self) -> Limit:
        if (self.max is None) == (self.min is None):
            raise ValueError("give exactly one of max or min")
        return self


class Objectives(_Strict):
    """What the event must meet; each key is one measured figure."""

    p50_time_to_first_execute_s: Limit | None = None
    p95_time_to_first_execute_s: Limit | None = None
    p99_time_to_first_execute_s: Limit | None = None
    p95_cell_latency_s: Limit | None = None
    error_rate: Limit | None = None
    orphan_kernels: Limit | None = None

    def items(self) -> list[tuple[str, Limit]]:
        return [(k, getattr(self, k)) for k in type(self).model_fields if getattr(self, k)]


class Workload(_Strict):
    name: str
    description: str = ""
    journey: Literal["gateway", "hub"] = "gateway"
    users: int = Field(ge=1, le=10000)
    arrival: Arrival
    duration_s: float = Field(gt=0, le=24 * 3600)
    profiles: list[Profile] = Field(default_factory=lambda: [Profile(name="default")], min_length=1)
    notebook: Notebook = Field(default_factory=Notebook)
    objectives: Objectives
    confidence: float = Field(noise.CONFIDENCE, gt=0.5, lt=1)
    seed: int = 0  # profile choices and think times are drawn from it: reruns are alike

    @model_validator(mode="after")
    def _some_objective(self) -> Workload:
        if not self.objectives.items():
            raise ValueError(f"name at least one objective ({', '.join(Objectives.model_fields)})")
        arriving = (self.users - 1) / self.arrival.rate_per_s
        if arriving >= self.duration_s:
            raise ValueError(
                f"at {self.arrival.rate_per_s:g} users/s the last of {self.users} users would "
                f"arrive {arriving:g} s in, after the event's {self.duration_s:g} s: raise "
                "arrival.rate_per_s or duration_s"
            )
        return self

    def locust_config(self) -> dict[str, Any]:
        """What the locust users read (runner.load_config puts it in EGH_LOAD_CONFIG)."""
        return {
            "duration_s": self.duration_s,
            "profiles": [p.model_dump() for p in self.profiles],
            "notebook": self.notebook.model_dump() | {"code": self.notebook.code()},
            "seed": self.seed,
        }


def load(path: str | Path) -> Workload:
    """The workload file, or a one-line error naming the key and the fix (exit 2)."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"workload file {p} not found: pass an existing YAML file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"workload file {p} cannot be read ({exc.__class__.__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"workload file {p} is not valid YAML{where}: fix the syntax") from None
    if not isinstance(data, dict):
        raise ConfigError(f"workload file {p} must be a mapping (name:, users:, arrival:, ...)")
    try:
        return Workload.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"workload file {p}: {_first_error(exc)}") from None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(x) for x in err["loc"]]
    where = ".".join(loc)
    if err["type"] == "extra_forbidden":
        model: Any = Workload
        for part in loc[:-1]:
            if part.isdigit():
                continue  # an item of a list: the model stays the list's item type
            field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
            ann = field.annotation if field else None
            inner = [a for a in getattr(ann, "__args__", (ann,)) if hasattr(a, "model_fields")]
            model = inner[0] if inner else None
            if model is None:
                break
        allowed = (
            ", ".join(model.model_fields)
            if model is not None
            else "see docs/performance.md, Workload files"
        )
        return f"unknown key {where!r} (allowed here: {allowed})"
    msg = err["msg"].removeprefix("Value error, ")
    return f"{where}: {msg}" if where else msg


# -- verdicts -----------------------------------------------------------------------------------
LABELS = {
    "p50_time_to_first_execute_s": "p50 time to first execute",
    "p95_time_to_first_execute_s": "p95 time to first execute",
    "p99_time_to_first_execute_s": "p99 time to first execute",
    "p95_cell_latency_s": "p95 cell latency",
    "error_rate": "error rate",
    "orphan_kernels": "orphan kernels",
}


class Verdict(_Strict):
    metric: str
    label: str
    limit: str
    measured: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    met: bool
    sure: str  # how sure, in words
    text: str


def _fmt(metric: str, v: float | None) -> str:
    if v is None:
        return "-"
    if metric == "error_rate":
        return f"{v:.2%}"
    if metric == "orphan_kernels":
        return f"{v:.0f}"
    return f"{v:.2f} s"


def judge(
    wl: Workload,
    ttfe: list[float],
    cells: list[float],
    sessions: int,
    sessions_with_errors: int,
    orphans: int | None,
) -> list[Verdict]:
    out = []
    for metric, limit in wl.objectives.items():
        bound = limit.max if limit.max is not None else limit.min
        within = (
            (lambda v, b=bound: v <= b) if limit.max is not None else (lambda v, b=bound: v >= b)
        )
        sign = "<=" if limit.max is not None else ">="
        lim_text = f"{sign} {_fmt(metric, bound)}"
        low = high = None
        n = 0
        if metric.endswith("time_to_first_execute_s") or metric == "p95_cell_latency_s":
            samples = cells if metric == "p95_cell_latency_s" else ttfe
            est = noise.estimate(samples, metric.split("_", 1)[0], confidence=wl.confidence)
            measured, low, high, n = est.value, est.low, est.high, est.n
            unit_n = f"{n} {'cells' if metric == 'p95_cell_latency_s' else 'sessions'}"
        elif metric == "error_rate":
            est = noise.proportion(sessions_with_errors, sessions, wl.confidence)
            measured, low, high, n = est.value, est.low, est.high, est.n
            unit_n = f"{sessions_with_errors} of {sessions} sessions with an error"
        else:
            measured = None if orphans is None else float(orphans)
            unit_n = "exact count after the run"
        if measured is None:
            why = (
                "the gateway's kernel list could not be read (EG_LIST_KERNELS off?)"
                if metric == "orphan_kernels"
                else "nothing was measured (no session got that far)"
            )
            out.append(
                Verdict(
                    metric=metric,
                    label=LABELS[metric],
                    limit=lim_text,
                    measured=None,
                    met=False,
                    sure=f"cannot tell: {why}",
                    text=f"{LABELS[metric]} {lim_text}: NOT MET, {why}",
                )
            )
            continue
        met = within(measured)
        conf = f"{round(wl.confidence * 100)}%"
        q = float(metric[1:3]) if metric[0] == "p" and metric[1:3].isdigit() else None
        enough = math.ceil(100 / (100 - q)) if q else 0  # samples before a pQ has a value above it
        if q and n < enough:
            sure = (
                f"not sure: {n} samples cannot bound a p{q:.0f} (its interval cannot reach past "
                f"the largest value seen; {enough} or more needed)"
            )
        elif low is None or high is None:
            sure = "exact" if metric == "orphan_kernels" else "one value: no interval"
        elif within(low) and within(high):
            sure = f"sure at {conf}: the whole interval meets it"
        elif not within(low) and not within(high):
            sure = f"sure at {conf}: the whole interval misses it"
        else:
            sure = f"not sure at {conf}: the interval straddles the limit"
            if metric == "error_rate" and limit.max:
                need = noise.trials_to_show(limit.max, wl.confidence)
                if need:
                    sure += f" (about {need} error-free sessions would show it)"
        ci = f", {conf} CI {_fmt(metric, low)}..{_fmt(metric, high)}" if low is not None else ""
        text = (
            f"{LABELS[metric]} {lim_text}: {'met' if met else 'NOT MET'}, measured "
            f"{_fmt(metric, measured)}{ci} ({unit_n}); {sure}"
        )
        out.append(
            Verdict(
                metric=metric,
                label=LABELS[metric],
                limit=lim_text,
                measured=measured,
                low=low,
                high=high,
                n=n,
                met=met,
                sure=sure,
                text=text,
            )
        )
    return out
