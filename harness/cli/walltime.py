"""`eg-harness walltime`: where a run's time goes, serial and parallel side by side.

Each measured run is a whole `eg-harness run` in a subprocess (provisioning and teardown
included, as a user waits for them). Serial and parallel runs alternate, so on a shared machine
both meet the same load; figures are for comparison within one invocation, never a bound.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from eg_harness.report.workers import Occupancy, occupancy
from eg_harness.runtime.processes import machine_cpu_s
from eg_harness.targets.spec import TargetSpec


@dataclass
class Measured:
    label: str  # "warm-up", "run 1", ...
    mode: str  # "serial", "-n 2", ...
    wall_s: float
    returncode: int
    provision_s: float | None = None
    teardown_s: float | None = None
    by_suite: dict[str, float] = field(default_factory=dict)  # summed test durations
    tests: list[tuple[float, str, str]] = field(default_factory=list)  # (s, nodeid, outcome)
    summary: dict[str, int] = field(default_factory=dict)
    machine_cores: float | None = None  # the machine's busy CPU over the run, in cores
    occupancy: Occupancy | None = None  # a parallel run: how many workers were busy when


def measure(
    suite: str, modes, runs: int, extra: list[str], say, warm_ups: int = 1, keep: Path | None = None
):
    """Each run's report goes to `keep`/r<N> when given (what a slow test said is worth reading
    after the table: an inconclusive flood names its evidence), else to a temporary dir."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="eg-harness-walltime-") as tmp:
        root = keep if keep is not None else Path(tmp)
        plan = [("warm-up", *modes[-1])] * warm_ups
        plan += [(f"run {i}", *mode) for i in range(1, runs + 1) for mode in modes]
        for n, (label, mode, workers) in enumerate(plan):
            say(f"walltime {label} ({mode}): eg-harness run --suite {suite}")
            report_dir = root / f"r{n}"
            argv = [sys.executable, "-m", "eg_harness", "run", "--suite", suite]
            argv += TargetSpec(report_dir=report_dir).to_args()  # the local target
            if workers is not None:
                argv += ["-n", workers]
            if extra:
                argv += ["--", *extra]
            t0, cpu0 = time.monotonic(), machine_cpu_s()
            proc = subprocess.run(argv, capture_output=True, text=True)
            row = Measured(label, mode, time.monotonic() - t0, proc.returncode)
            cpu1 = machine_cpu_s()
            if cpu0 and cpu1:
                row.machine_cores = (cpu1[0] - cpu0[0]) / row.wall_s
            if proc.returncode not in (0, 1):  # 1: a scenario failed, the time still counts
                print(proc.stdout[-2000:], proc.stderr[-1000:], sep="\n")
            _read_results(row, report_dir / "results.json")
            say(f"walltime {label} ({mode}): {row.wall_s:.1f}s, exit {row.returncode}")
            rows.append(row)
    return rows


def _read_results(row: Measured, path: Path) -> None:
    if not path.is_file():
        return
    results = json.loads(path.read_text())
    spans: dict[str, dict] = {}
    for s in results["spans"]:  # the run's own stack comes first; short-lived ones after it
        if s["name"].startswith("target_"):
            spans.setdefault(s["name"], s)
    row.provision_s = spans.get("target_provision", {}).get("phases", {}).get("hub_ready")
    row.teardown_s = spans.get("target_teardown", {}).get("phases", {}).get("stopped")
    for t in results["tests"]:
        row.by_suite[t["suite"]] = row.by_suite.get(t["suite"], 0.0) + t["duration_s"]
        row.tests.append((t["duration_s"], t["nodeid"], t["outcome"]))
    row.occupancy = occupancy(results["tests"], results.get("duration_s") or row.wall_s)
    row.summary = {
        k: v for k, v in results["summary"].items() if isinstance(v, int) and v and k != "total"
    }


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _cores(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def render(rows: list[Measured], slowest: int = 10) -> str:
    """The table a user reads: every run, then each mode's best warm time side by side."""
    out = [
        f"{'run':8} {'mode':9} {'wall s':>8} {'provision s':>12} {'teardown s':>11} "
        f"{'cores':>5} {'exit':>4}  outcomes; per-suite test time s"
    ]
    for r in rows:
        outcomes = ", ".join(f"{k} {v}" for k, v in r.summary.items()) or "no results"
        suites = ", ".join(f"{k} {v:.1f}" for k, v in sorted(r.by_suite.items()))
        out.append(
            f"{r.label:8} {r.mode:9} {r.wall_s:8.1f} {_s(r.provision_s):>12} "
            f"{_s(r.teardown_s):>11} {_cores(r.machine_cores):>5} {r.returncode:>4}  "
            f"{outcomes}; {suites}"
        )
    warm: dict[str, list[Measured]] = {}
    for r in rows:
        if r.label != "warm-up":
            warm.setdefault(r.mode, []).append(r)
    if warm:
        out.append("")
        out.append("warm wall time, side by side (same invocation, same machine load):")
        best = {mode: min(x.wall_s for x in runs) for mode, runs in warm.items()}
        serial = best.get("serial")
        for mode, runs in warm.items():
            mean = sum(x.wall_s for x in runs) / len(runs)
            ratio = f"  ({serial / best[mode]:.2f}x serial)" if serial and mode != "serial" else ""
            out.append(f"  {mode:9} best {best[mode]:7.1f}s  mean {mean:7.1f}s{ratio}")
        out.append(
            "  (cores: the machine's busy CPU over the run; well under its core count means the"
            " run waits, and more workers than cores can pay)"
        )
        for mode, runs in warm.items():
            last = runs[-1]
            if last.occupancy is not None:
                out.append("")
                out.append(f"where the time went ({mode}, {last.label}):")
                out += [f"  {line}" for line in last.occupancy.lines()]
            if slowest and last.tests:
                out.append("")
                out.append(f"slowest tests ({mode}, {last.label}):")
                for duration, nodeid, outcome in sorted(last.tests, reverse=True)[:slowest]:
                    out.append(f"  {duration:7.1f}s  {outcome:9} {nodeid}")
    return "\n".join(out)
