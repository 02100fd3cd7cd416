"""The figures a user feels, from a browser run's results.json, beside the API-level spans of the
same run: `python -m eg_harness.browser.figures [RESULTS_JSON]` (the nox session `browser` runs
the suite with repeats and prints them).

A browser phase is a metric `browser_phase` (seconds, with its phase name); the API-level figure
is each kernel start's span (requested -> first execute reply) and each hub spawn, so "notebook
open to kernel Idle" in Lab reads beside "kernel requested to first execute" over REST and
WebSocket on the same deployment. Figures, not verdicts: nothing here is asserted.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from eg_harness import resources
from eg_harness.browser.lab import EXECUTE_TO_OUTPUT, LOGIN_TO_LAB, OPEN_TO_IDLE
from eg_harness.errors import EXIT_OK, EXIT_USAGE

USER_FIGURES = (LOGIN_TO_LAB, OPEN_TO_IDLE, EXECUTE_TO_OUTPUT)


def _pcts(values: list[float]) -> dict:
    if not values:
        return {"n": 0, "p50": None, "p95": None}
    return {
        "n": len(values),
        "p50": round(float(np.percentile(values, 50)), 3),
        "p95": round(float(np.percentile(values, 95)), 3),
    }


def figures(results: dict) -> dict[str, dict[str, dict]]:
    """{"user": figure -> pcts, "phases": phase -> pcts, "api": span figure -> pcts}."""
    phases: dict[str, list[float]] = {}
    for m in results.get("metrics", []):
        if m.get("name") == "browser_phase" and m.get("attrs", {}).get("ok"):
            phases.setdefault(m["attrs"]["phase"], []).append(float(m["value"]))
    api: dict[str, list[float]] = {}
    for span in results.get("spans", []):
        marks = span.get("phases") or {}
        if not span.get("ok"):
            continue
        if span["name"] == "kernel_start" and "first_execute_reply" in marks:
            hop = (span.get("attrs") or {}).get("hop", "?")
            key = f"kernel requested -> first execute reply ({hop})"
            api.setdefault(key, []).append(marks["first_execute_reply"])
        elif span["name"] == "server_spawn" and marks:
            api.setdefault("server spawn (hub API)", []).append(max(marks.values()))
    return {
        "user": {f: _pcts(phases.get(f, [])) for f in USER_FIGURES},
        "phases": {p: _pcts(v) for p, v in phases.items() if p not in USER_FIGURES},
        "api": {k: _pcts(v) for k, v in api.items()},
    }


def render(figs: dict[str, dict[str, dict]]) -> str:
    lines = []
    titles = {
        "user": "what the user feels (browser)",
        "phases": "browser phases",
        "api": "API-level spans, same run",
    }
    for part, title in titles.items():
        lines.append(f"{title}:")
        for name, p in figs[part].items():
            if p["n"]:
                figure = f"p50 {p['p50']:8.3f} s  p95 {p['p95']:8.3f} s"
                lines.append(f"  {name:58} n={p['n']:<3} {figure}")
            else:
                lines.append(f"  {name:58} n=0")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "results",
        nargs="?",
        default=str(resources.reports_root() / "latest" / "results.json"),
        help="a browser run's results.json (default: the latest run's)",
    )
    args = ap.parse_args(argv)
    path = Path(args.results)
    if not path.is_file():
        print(f"no results at {path}: run `eg-harness run --suite browser` first", file=sys.stderr)
        return EXIT_USAGE
    print(render(figures(json.loads(path.read_text()))))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
