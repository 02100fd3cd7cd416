"""Release gate: compare a bench's figures with a saved baseline under thresholds, knowing
the noise.

Compared level by level (a storm of 5 with a storm of 5): p95 time-to-first-execute may grow by
at most 20%, throughput may drop by at most 15%, and the error rate may not rise, unless a
thresholds YAML says otherwise. Benches made with ``--repeat N`` carry each level's figures
repeat by repeat; the gate bootstraps the change of the repeats' mean and calls a regression
only when the whole confidence interval lies past the threshold, so two normal runs on a busy
machine pass without loosening the thresholds, and each verdict says how sure it is. Without
repeats it can only compare single figures, and says so. Figures from a run whose load
generator was the bottleneck are not evidence either way: the gate refuses them (exit 4)
instead of passing or failing on them.

A gate that cannot see the noise does not call a regression on a limit the user never chose:
when either side has no repeats (or too few to show a change), a figure past a *default* limit
is INCONCLUSIVE (exit 5, errors.EXIT_INCONCLUSIVE), with what to do: repeat both benches, or set
that limit (a --thresholds YAML or --limit NAME=VALUE), which then judges single figures as
they are. Two correct single runs differ by 20% often enough (storm 2's p50: +22%) that a
default 20% on single figures would fail correct stacks. docs/bench-and-gate.md has the table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from eg_harness.errors import ConfigError
from eg_harness.report.bench_results import (
    BASELINE_SCHEMA,
    BENCH_SCHEMA,
    Baseline,
    BenchFigures,
    read_throughput,
)
from eg_harness.stats import noise
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from rich.console import Console
from rich.table import Table


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p95_ttfe_max_increase: float = Field(0.20, ge=0)
    p50_ttfe_max_increase: float = Field(0.20, ge=0)
    throughput_max_decrease: float = Field(0.15, ge=0, le=1)
    error_rate_max_increase: float = Field(0.0, ge=0, le=1)
    # How sure a regression must be: the interval of the change at this level must clear the
    # threshold as a whole.
    confidence: float = Field(0.95, gt=0.5, lt=1)


def load_thresholds(path: str | None, limits: list[str] | tuple[str, ...] = ()) -> Thresholds:
    """Defaults, then the YAML file, then each ``NAME=VALUE`` of --limit. The fields the user
    set are ``model_fields_set``: those limits judge single runs; the defaults do not."""
    data: dict[str, Any] = {}
    if path:
        data = _read_thresholds(path)
    for item in limits:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in Thresholds.model_fields:
            raise ConfigError(
                f"--limit {item!r}: give NAME=VALUE with NAME one of "
                f"{', '.join(Thresholds.model_fields)}"
            )
        try:
            data[name] = float(value)
        except ValueError:
            raise ConfigError(f"--limit {item!r}: {value!r} is not a number") from None
    try:
        return Thresholds.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(
            f"thresholds: {where}: {first['msg']} (allowed keys: "
            f"{', '.join(Thresholds.model_fields)})"
        ) from None


def _read_thresholds(path: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"thresholds file {path}: not a mapping of limits")
        return Thresholds.model_validate(data).model_dump(include=set(data))
    except FileNotFoundError:
        raise ConfigError(f"thresholds file {path} not found: pass an existing YAML") from None
    except (yaml.YAMLError, ValidationError) as exc:
        first = exc.errors()[0] if isinstance(exc, ValidationError) else None
        where = ".".join(str(x) for x in first["loc"]) if first else ""
        why = first["msg"] if first else "not valid YAML"
        raise ConfigError(
            f"thresholds file {path}: {where + ': ' if where else ''}{why} (allowed keys: "
            f"{', '.join(Thresholds.model_fields)})"
        ) from None


def read_figures(path: str | Path) -> BenchFigures:
    """Figures from a baseline file, a bench.json, or a report dir's results.json (read
    through the results model, so a report from an older harness reads the same way)."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p} not found: pass a baseline file or a bench report") from None
    except ValueError:
        raise ConfigError(f"{p} is not JSON: pass a baseline file or a bench report") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{p} holds no bench figures: run `eg-harness bench` first")
    try:
        if doc.get("schema") == BASELINE_SCHEMA:
            return Baseline.model_validate(doc).figures
        if doc.get("schema") == BENCH_SCHEMA:
            return read_throughput(doc).figures()
        if isinstance(doc.get("throughput"), dict):
            return read_throughput(doc["throughput"]).figures()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(
            f"{p}: {where}: {first['msg']}: not a bench report this harness can read"
        ) from None
    raise ConfigError(f"{p} holds no bench figures: run `eg-harness bench` first")


def make_baseline(source: str | Path, out: str | Path) -> Baseline:
    baseline = Baseline(
        created_at=datetime.now(timezone.utc).isoformat(),
        source=str(source),
        figures=read_figures(source),
    )
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(baseline.model_dump(mode="json"), indent=2) + "\n")
    return baseline


# What the gate judges per level: (label, figure key, threshold field, bad direction, relative)
# What the gate judges per level: (label, figure key, threshold field, bad direction, relative,
# moves with the machine). A figure that moves with the machine is not judged a regression when
# the machine itself was busier beyond noise during the current bench (its contention probe):
# the adjusted time, divided by that slowdown, is judged instead.
FIGURES = (
    (
        "p95 time to first execute (s)",
        "p95_ttfe_s",
        "p95_ttfe_max_increase",
        "higher_is_worse",
        True,
        True,
    ),
    (
        "p50 time to first execute (s)",
        "p50_ttfe_s",
        "p50_ttfe_max_increase",
        "higher_is_worse",
        True,
        True,
    ),
    (
        "p50 time to first execute, adjusted for machine load (s)",
        "p50_ttfe_adjusted_s",
        "p50_ttfe_max_increase",
        "higher_is_worse",
        True,
        False,
    ),
    (
        "throughput (starts/s)",
        "starts_per_s",
        "throughput_max_decrease",
        "lower_is_worse",
        True,
        True,
    ),
    ("error rate", "error_rate", "error_rate_max_increase", "higher_is_worse", False, False),
)
MACHINE = "machine slowdown (x idle)"

STATISTIC = noise.REPEAT_STATISTIC


@dataclass
class Check:
    level: str
    figure: str
    base: list[float]
    cur: list[float]
    limit: str
    change: noise.Change
    regressed: bool
    note: str = ""  # overrides the verdict's words (machine rows, figures not judged)
    # Past a default limit, but the noise is unknown (no or too few repeats): neither a pass
    # nor a regression. ``field`` names the limit to set to judge it anyway.
    inconclusive: bool = False
    field: str = ""
    repeats_needed: int = 4

    @property
    def baseline(self) -> float | None:
        return self.change.a

    @property
    def current(self) -> float | None:
        return self.change.b

    @property
    def verdict(self) -> str:
        if self.note:
            return self.note
        c = self.change
        if self.inconclusive:
            why = "single runs" if c.verdict == "no spread" else "too few repeats"
            return f"INCONCLUSIVE ({why}: noise unknown; default limit)"
        if c.verdict == "missing":
            return "REGRESSED (no figure)" if self.regressed else "ok (no figure)"
        if c.verdict == "no spread":
            return ("REGRESSED" if self.regressed else "ok") + " (single runs: noise unknown)"
        if c.verdict == "too few":
            return ("REGRESSED" if self.regressed else "ok") + " (too few repeats: noise unknown)"
        return {
            "regressed": "REGRESSED",
            "improved": "ok (better)",
            "ok": "ok",
            "unsure": "not shown",
        }[c.verdict]

    @property
    def sureness(self) -> str:
        """How sure the verdict is, in words a release manager can act on."""
        c = self.change
        if self.figure == MACHINE:
            return "the machine's own load: figures that move with it are not judged when busier"
        if self.inconclusive:
            return (
                f"cannot tell: past the default limit, noise unknown: run both benches with "
                f"--repeat {self.repeats_needed} or more, or set the limit "
                f"(--limit {self.field}=VALUE)"
            )
        if c.beyond is None:
            return (
                f"cannot tell: no spread (run both benches with --repeat "
                f"{self.repeats_needed} or more)"
            )
        if c.verdict == "too few":
            return (
                f"cannot tell: too few repeats for the noise (run both with --repeat "
                f"{self.repeats_needed} or more)"
            )
        pct = f"{c.beyond:.0%} of resamples past the limit"
        if c.verdict == "regressed":
            return f"sure at {c.confidence:.0%}: {pct}"
        if c.verdict in ("ok", "improved"):
            return f"within the limit at {c.confidence:.0%}: {pct}"
        return f"not sure: {pct}; more repeats would tell"

    def row(self) -> list[str]:
        c = self.change
        if c.verdict == "missing" or c.change is None:
            change, ci = "-", "-"
        else:
            change = _fmt_change(c.change, c.relative)
            ci = (
                "-"
                if c.low is None
                else f"{_fmt_change(c.low, c.relative)}..{_fmt_change(c.high, c.relative)}"
            )
        return [
            self.level,
            self.figure,
            spread(self.base),
            spread(self.cur),
            change,
            ci,
            self.limit,
            self.verdict,
            self.sureness,
        ]


COLUMNS = ["level", "figure", "baseline", "current", "change", "95% CI", "allowed", "verdict"]
COLUMNS = [*COLUMNS, "how sure"]


def _fmt_change(v: float, relative: bool) -> str:
    return f"{v * 100:+.0f}%" if relative else f"{v:+.3f}"


spread = noise.spread


def compare(base: BenchFigures, cur: BenchFigures, th: Thresholds) -> list[Check]:
    """Level by level, each figure's repeats against the baseline's: a regression only when
    the bootstrap interval of the change lies wholly past the threshold. Without repeats on
    either side (or too few) there is no spread to judge: the single figures are compared with
    a limit the user set as they are (the verdict says so); past a default limit they are
    inconclusive."""
    checks: list[Check] = []
    chosen = th.model_fields_set  # limits the user set; the rest are defaults
    needed = noise.min_repeats(th.confidence)
    base_levels, cur_levels = base.levels(), cur.levels()
    levels = [(name, b, cur_levels[name]) for name, b in base_levels.items() if name in cur_levels]
    for level, b, c in levels:
        machine = noise.compare(
            b.samples("machine_slowdown"),
            c.samples("machine_slowdown"),
            threshold=0.0,
            statistic=STATISTIC,
            confidence=th.confidence,
        )
        busier = machine.verdict == "regressed"
        if machine.verdict != "missing":
            checks.append(
                Check(
                    level,
                    MACHINE,
                    b.samples("machine_slowdown"),
                    c.samples("machine_slowdown"),
                    "(not gated)",
                    machine,
                    False,
                    note={
                        "regressed": "busier",
                        "improved": "quieter",
                        "no spread": "single runs",
                    }.get(machine.verdict, "same"),
                )
            )
        for label, key, field, direction, relative, with_machine in FIGURES:
            limit_v = getattr(th, field)
            a_s, b_s = b.samples(key), c.samples(key)
            if not a_s and not b_s:
                continue  # a figure neither bench has (e.g. adjusted times of older benches)
            change = noise.compare(
                a_s,
                b_s,
                threshold=limit_v,
                direction=direction,
                statistic=STATISTIC,
                relative=relative,
                confidence=th.confidence,
            )
            note = ""
            inconclusive = False
            if change.verdict == "missing":
                regressed = bool(a_s) and not b_s  # the current run lost a figure it had
            elif change.verdict in ("no spread", "too few"):
                bad = change.change if direction == "higher_is_worse" else -change.change
                past = bad > limit_v + 1e-12
                regressed = past and field in chosen
                inconclusive = past and field not in chosen
            else:
                regressed = change.regressed
            if (regressed or inconclusive) and with_machine and busier:
                regressed = inconclusive = False
                note = "not judged: the machine was busier"
            sign = "+" if direction == "higher_is_worse" else "-"
            limit = f"{sign}{limit_v:.0%}" if relative else f"{sign}{limit_v:.3f} (absolute)"
            limit += "" if field in chosen else " (default)"
            checks.append(
                Check(
                    level,
                    label,
                    a_s,
                    b_s,
                    limit,
                    change,
                    regressed,
                    note,
                    inconclusive=inconclusive,
                    field=field,
                    repeats_needed=needed,
                )
            )
    return checks


def markdown(checks: list[Check], title: str) -> str:
    """The gate's table for a CI job summary ($GITHUB_STEP_SUMMARY)."""
    head = f"### {outcome(checks)[1]}: {title}\n\n"
    cols = COLUMNS
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(c.row()) + " |" for c in checks]
    return head + "\n".join(lines) + "\n"


def outcome(checks: list[Check]) -> tuple[str, str]:
    """The gate's verdict over all checks: (``regressed`` | ``inconclusive`` | ``passed``, its
    heading). A regression outranks an inconclusive check; an inconclusive one, a pass."""
    if any(c.regressed for c in checks):
        return "regressed", "❌ REGRESSION"
    if any(c.inconclusive for c in checks):
        return "inconclusive", "⚠️ INCONCLUSIVE (noise unknown)"
    return "passed", "✅ gate passed"


def print_checks(checks: list[Check], title: str) -> None:
    table = Table(title=title)
    for c in COLUMNS:
        table.add_column(c)
    for check in checks:
        style = "bold red" if check.regressed else ("yellow" if check.inconclusive else None)
        table.add_row(*check.row(), style=style)
    console = Console()
    if not console.is_terminal:
        console = Console(width=200)
    console.print(table)
