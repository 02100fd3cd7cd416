"""`eg-harness diff RUN_A RUN_B`: what changed between two runs, judged against their noise,
and whether B covered what A ran (exit 1 when it did not, unless --allow-subset)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from eg_harness.report.files import append_step_summary


def add_parsers(sub) -> None:
    d = sub.add_parser(
        "diff",
        help="compare two runs (report dirs, results.json, or --repeat dirs); exit 1 on a "
        "regression or when B does not cover A",
    )
    d.set_defaults(func=cmd_diff)
    d.add_argument("run_a", metavar="RUN_A", help="the earlier run: report dir or results.json")
    d.add_argument("run_b", metavar="RUN_B", help="the later run")
    d.add_argument("--out", default=None, help="write diff.txt, diff.json and diff.html here")
    d.add_argument("--json", action="store_true", help="print the diff as JSON instead of text")
    d.add_argument(
        "--allow-subset",
        action="store_true",
        help="B is meant to be a part of A: accept tests of A that B did not run and a "
        "different selection (never a B that ran no test, errored or was interrupted)",
    )


def cmd_diff(args) -> int:
    from eg_harness.report import diff, html

    d = diff.diff(args.run_a, args.run_b, allow_subset=args.allow_subset)
    text = diff.render_text(d)
    doc = json.dumps(d.dump(), indent=2) + "\n"
    print(doc if args.json else text, end="")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "diff.txt").write_text(text)
        (out / "diff.json").write_text(doc)
        (out / "diff.html").write_text(html.render_diff(d))
        if not args.json:
            print(f"diff: {out / 'diff.html'}")
    append_step_summary(f"### Run diff: {d.headline}\n\n```\n{text}```\n")
    cover = diff.coverage_line(d.coverage)
    if args.json and d.exit_code and cover and not d.coverage.complete:
        print(f"eg-harness: {cover}", file=sys.stderr)  # the reason, beside the JSON
    return d.exit_code
