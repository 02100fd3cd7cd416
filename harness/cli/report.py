"""`eg-harness report`: render report.html and summary.md again from a saved results.json
(after a renderer change, or on another machine), optionally with a browser screenshot."""

from __future__ import annotations

import json
from pathlib import Path

from eg_harness.errors import EXIT_OK, ConfigError
from pydantic import ValidationError


def add_parsers(sub) -> None:
    p = sub.add_parser("report", help="re-render report.html/summary.md from a results.json")
    p.set_defaults(func=cmd_report)
    p.add_argument("source", metavar="RESULTS_JSON_OR_DIR", help="results.json or its run dir")
    p.add_argument("--out", help="where to write (default: next to the results.json)")
    p.add_argument(
        "--screenshot",
        metavar="PNG",
        help="also save how headless Chromium shows report.html (needs chromium)",
    )


def cmd_report(args) -> int:
    from eg_harness.report import browser
    from eg_harness.report.writer import load_results, write_report

    source = Path(args.source)
    path = source / "results.json" if source.is_dir() else source
    if not path.is_file():
        raise ConfigError(f"{path} not found: give a results.json or the run directory")
    try:
        results = load_results(path)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not JSON ({exc.msg} at line {exc.lineno})") from exc
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first["loc"]) or "(document)"
        raise ConfigError(
            f"{path} is not a schema-2 results document: {where}: {first['msg']} "
            "(see reports/results.schema.json)"
        ) from exc
    out = Path(args.out) if args.out else path.parent
    files = write_report(out, results, latest_link=False)
    print(f"report: {files['report.html']}")
    print(f"summary: {files['summary.md']}")
    if args.screenshot:
        print(f"screenshot: {browser.screenshot(files['report.html'], Path(args.screenshot))}")
    return EXIT_OK
