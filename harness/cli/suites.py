"""`eg-harness suites`: each suite with what it proves, its scenario count, its usual time and
what it needs (the catalogue, eg_harness.suites, read from scenarios/suites.json)."""

from __future__ import annotations

import json

from eg_harness import resources, suites
from eg_harness.errors import EXIT_OK


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "suites",
        help="list the suites: what each proves, its scenario count, usual time and needs",
    )
    p.set_defaults(func=cmd_suites)
    p.add_argument("--json", action="store_true", help="print the catalogue as JSON")
    p.add_argument(
        "--markdown", action="store_true", help="print it as a Markdown table (scenarios/README)"
    )
    p.add_argument(
        "--names", action="store_true", help="print only the names, one a line (for scripts)"
    )


class _Count:
    """A pytest plugin that only counts what collection found, per suite."""

    def __init__(self) -> None:
        self.per_suite: dict[str, int] = {}

    def pytest_collection_modifyitems(self, items) -> None:
        from eg_harness.report.model import suite_of

        for item in items:
            suite = suite_of(item.nodeid)
            self.per_suite[suite] = self.per_suite.get(suite, 0) + 1


def collected() -> dict[str, int] | None:
    """Scenarios per suite as pytest collects them (parametrized cases apart), without the
    harness's plugin (nothing provisioned, no report written); None when collection fails."""
    import pytest

    counter = _Count()
    args = [
        "--collect-only",
        "-p",
        "no:eg_harness",
        "-p",
        "no:terminal",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:html",
        "-o",
        "addopts=",
        f"--rootdir={resources.SCENARIOS.parent}",
        *(str(resources.SCENARIOS / s) for s in suites.names()),
    ]
    code = pytest.main(args, plugins=[counter])
    return counter.per_suite if int(code) == 0 else None


def cmd_suites(args) -> int:
    if args.names:
        print("\n".join(suites.names()))
        return EXIT_OK
    if args.markdown:
        print(suites.markdown_table(), end="")
        return EXIT_OK
    counts = collected()
    how = "collected"
    if counts is None:
        counts, how = {s: suites.counted_tests(s) for s in suites.names()}, "test functions"
    if args.json:
        doc = [
            {**s.model_dump(), "scenarios": counts.get(s.name, 0), "counted": how}
            for s in suites.catalogue()
        ]
        print(json.dumps(doc, indent=2))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"Suites ({how} scenarios; usual time: serial, local target, 2 cores)")
    for c in ("suite", "what it proves", "scenarios", "usual time", "needs"):
        t.add_column(c, overflow="fold")
    for s in suites.catalogue():
        t.add_row(
            s.name,
            s.proves,
            str(counts.get(s.name, 0)),
            suites.fmt_time(s.usual_time_s),
            s.needs_text(),
        )
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    console.print(t)
    print("run some: eg-harness run --suite auth,startup; all: eg-harness run")
    return EXIT_OK
