"""`eg-harness`: run the suites against a target, or keep a local stack up for hands-on work.

Exit codes a CI can branch on (the one list: eg_harness.errors): 0 all passed, 1 a scenario
failed (bench: errors; gate and diff: a regression; diff: B does not cover A), 2 usage or
configuration error, 3 the target could not be provisioned or reached, 4 measurements invalid
(the load generator was the bottleneck), 5 inconclusive (gate: single runs against a default
limit), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from eg_harness.cli import (
    audit,
    bench,
    diff,
    flood,
    node,
    report,
    run,
    soak,
    stack,
    suites,
    upgrade,
)
from eg_harness.errors import EXIT_INTERRUPTED, HarnessError
from eg_harness.runtime import secrets

# Each adds its subcommands; a new command is a new module.
COMMAND_MODULES = (run, suites, stack, bench, flood, report, audit, soak, upgrade, diff, node)


def version() -> str:
    """The installed distribution's version (pyproject.toml's, through the package metadata)."""
    try:
        return metadata.version("eg-harness")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eg-harness", description=__doc__.splitlines()[0])
    p.add_argument(
        "--version", action="version", version=f"eg-harness {version()}", help="print the version"
    )
    sub = p.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        module.add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"eg-harness: {secrets.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("eg-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
