"""`eg-harness upgrade`: an upgrade A -> B on the local target with live users (a benchmark-
like command: it prints each step's figures and writes the report with the upgrade table)."""

from __future__ import annotations

from pathlib import Path

from eg_harness import resources
from eg_harness.cli.common import (
    HELP_LOCAL_FAULT,
    HELP_REPORT_DIR,
    HELP_RUN_ID,
    selected_suites,
    sigterm_as_interrupt,
)
from eg_harness.errors import ConfigError
from eg_harness.runtime.progress import console
from eg_harness.runtime.runid import new_run_id


def add_parsers(sub) -> None:
    u = sub.add_parser(
        "upgrade", help="upgrade the local stack A -> B with live users and table what they lost"
    )
    u.set_defaults(func=cmd_upgrade)
    u.add_argument("--from", dest="origin", default=None, help="e.g. gateway=3.2.3,hub=5.5.4")
    u.add_argument("--to", dest="dest", default=None, help="default: today's pins")
    u.add_argument("--users", type=int, default=2, help="live users through the upgrade (2)")
    u.add_argument(
        "--steps",
        default="hub,gateway,gateway-persistent,user-servers",
        help="operator steps, in order",
    )
    u.add_argument("--no-spark", action="store_true", help="python kernels only")
    u.add_argument(
        "--cleanup-servers",
        action="store_true",
        help="JupyterHub.cleanup_servers=True (JupyterHub's default; z2jh and the default here: "
        "False)",
    )
    u.add_argument(
        "--recover-timeout",
        type=float,
        default=120.0,
        help="seconds a user may wait for a working cell after each step (120)",
    )
    u.add_argument(
        "--suite",
        default="all",
        help="suites to run on the upgraded stack: all, quick (auth,startup), a list, or none",
    )
    u.add_argument("--local-fault", action="append", default=[], help=HELP_LOCAL_FAULT)
    u.add_argument("--run-id", default=None, help=HELP_RUN_ID)
    u.add_argument("--report-dir", default=None, help=HELP_REPORT_DIR)


def suites_for(spec: str) -> str | None:
    if spec == "none":
        return None
    from eg_harness.upgrade.runner import QUICK_SUITES

    if spec == "quick":
        return QUICK_SUITES
    chosen = [s for s in selected_suites(spec) if s != "upgrade"]
    if not chosen:
        raise ConfigError("--suite: the upgrade suite cannot run on the upgraded stack itself")
    return ",".join(chosen)


def cmd_upgrade(args) -> int:
    from eg_harness.runtime import versions
    from eg_harness.targets.local.target import LocalTarget
    from eg_harness.upgrade import runner
    from eg_harness.upgrade.journey import STEPS, Plan

    origin = versions.parse(args.origin, versions.default_from())
    dest = versions.parse(args.dest, versions.current())
    steps = tuple(s.strip() for s in args.steps.split(",") if s.strip())
    unknown = [s for s in steps if s not in STEPS]
    if unknown or not steps:
        raise ConfigError(f"--steps {args.steps!r}: choose from {', '.join(STEPS)}")
    if args.users < 1:
        raise ConfigError(f"--users {args.users}: give 1 or more")
    suites = suites_for(args.suite)
    plan = Plan(
        origin=origin,
        dest=dest,
        users=args.users,
        steps=steps,
        spark=not args.no_spark,
        recover_timeout=args.recover_timeout,
        cleanup_servers=args.cleanup_servers,
    )
    run_id = args.run_id or new_run_id()
    report_dir = Path(args.report_dir) if args.report_dir else resources.reports_root() / run_id
    target = LocalTarget(
        faults=args.local_fault,
        run_id=run_id,
        versions=origin,
        hub_settings={"cleanup_servers": args.cleanup_servers},
    )
    say = console()
    say(f"upgrade {origin.label()} -> {dest.label()}; steps {', '.join(steps)}")
    sigterm_as_interrupt()
    results = runner.upgrade(
        target, plan, suites=suites, report_dir=report_dir, run_id=run_id, progress=say
    )
    runner.print_table(results)
    print(f"report: {report_dir / 'report.html'}")
    print(results.verdict.line)  # the one verdict (report/verdict.py), as results.json has it
    return results.verdict.exit_code
