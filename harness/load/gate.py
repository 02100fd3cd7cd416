"""Release gate: compare a bench's figures with a saved baseline under thresholds.

Compared level by level (a storm of 5 with a storm of 5): p95 time-to-first-execute may grow by
at most 20%, throughput may drop by at most 15%, and the error rate may not rise, unless a
thresholds YAML says otherwise. Figures from a run whose load generator was the bottleneck are
not evidence either way: the gate refuses them (exit 4) instead of passing or failing on them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import yaml
from eg_harness.errors import ConfigError
from eg_harness.load.summary import SCHEMA as BENCH_SCHEMA
from eg_harness.load.summary import figures
from pydantic import BaseModel, ConfigDict, Field, ValidationError

BASELINE_SCHEMA = "eg-harness-baseline/1"
EXIT_REGRESSION, EXIT_INVALID = 1, 4


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid")

    p95_ttfe_max_increase: float = Field(0.20, ge=0)
    throughput_max_decrease: float = Field(0.15, ge=0, le=1)
    error_rate_max_increase: float = Field(0.0, ge=0, le=1)


def load_thresholds(path: str | None) -> Thresholds:
    if not path:
        return Thresholds()
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
        return Thresholds.model_validate(data)
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


def read_figures(path: str | Path) -> dict[str, Any]:
    """Figures from a baseline file, a bench.json, or a report dir's results.json."""
    p = Path(path)
    if p.is_dir():
        p = p / "results.json"
    try:
        doc = json.loads(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p} not found: pass a baseline file or a bench report") from None
    except ValueError:
        raise ConfigError(f"{p} is not JSON: pass a baseline file or a bench report") from None
    if doc.get("schema") == BASELINE_SCHEMA:
        return doc["figures"]
    if doc.get("schema") == BENCH_SCHEMA:
        return figures(doc)
    if isinstance(doc.get("throughput"), dict):
        return figures(doc["throughput"])
    raise ConfigError(f"{p} holds no bench figures: run `eg-harness bench` first")


def make_baseline(source: str | Path, out: str | Path) -> dict[str, Any]:
    figs = read_figures(source)
    doc = {
        "schema": BASELINE_SCHEMA,
        "created_at": datetime.now(timezone.utc).isoformat(),
        "source": str(source),
        "figures": figs,
    }
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text(json.dumps(doc, indent=2) + "\n")
    return doc


@dataclass
class Check:
    level: str
    figure: str
    baseline: float | None
    current: float | None
    limit: str
    regressed: bool

    def row(self) -> list[str]:
        def f(v):
            return "-" if v is None else f"{v:.3f}"

        change = "-"
        if self.baseline and self.current is not None:
            change = f"{(self.current - self.baseline) / self.baseline:+.0%}"
        return [
            self.level,
            self.figure,
            f(self.baseline),
            f(self.current),
            change,
            self.limit,
            "REGRESSED" if self.regressed else "ok",
        ]


def compare(base: dict[str, Any], cur: dict[str, Any], th: Thresholds) -> list[Check]:
    checks: list[Check] = []
    levels = [
        ("storm " + k, base["storms"][k], cur["storms"][k])
        for k in sorted(set(base.get("storms", {})) & set(cur.get("storms", {})), key=int)
    ]
    if base.get("churn") and cur.get("churn"):
        levels.append(("churn", base["churn"], cur["churn"]))
    for level, b, c in levels:
        bp, cp = b.get("p95_ttfe_s"), c.get("p95_ttfe_s")
        checks.append(
            Check(
                level,
                "p95 time to first execute (s)",
                bp,
                cp,
                f"<= +{th.p95_ttfe_max_increase:.0%}",
                bp is not None and (cp is None or cp > bp * (1 + th.p95_ttfe_max_increase)),
            )
        )
        bt, ct = b.get("starts_per_s") or 0.0, c.get("starts_per_s") or 0.0
        checks.append(
            Check(
                level,
                "throughput (starts/s)",
                bt,
                ct,
                f">= -{th.throughput_max_decrease:.0%}",
                ct < bt * (1 - th.throughput_max_decrease),
            )
        )
        be, ce = b.get("error_rate") or 0.0, c.get("error_rate") or 0.0
        checks.append(
            Check(
                level,
                "error rate",
                be,
                ce,
                f"<= +{th.error_rate_max_increase:.0%} (absolute)",
                ce > be + th.error_rate_max_increase + 1e-12,
            )
        )
    return checks


def markdown(checks: list[Check], title: str) -> str:
    """The gate's table for a CI job summary ($GITHUB_STEP_SUMMARY)."""
    regressed = [c for c in checks if c.regressed]
    head = f"### {'❌ REGRESSION' if regressed else '✅ gate passed'}: {title}\n\n"
    cols = ["level", "figure", "baseline", "current", "change", "allowed", "verdict"]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(c.row()) + " |" for c in checks]
    return head + "\n".join(lines) + "\n"


def print_checks(checks: list[Check], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for c in ["level", "figure", "baseline", "current", "change", "allowed", "verdict"]:
        table.add_column(c)
    for check in checks:
        style = "bold red" if check.regressed else None
        table.add_row(*check.row(), style=style)
    Console().print(table)
