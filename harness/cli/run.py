"""`eg-harness run`: the suites through pytest, and the commands that time or list them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eg_harness import resources, suites
from eg_harness.cli import repeat
from eg_harness.cli.common import SCENARIOS, selected_suites, sigterm_as_interrupt
from eg_harness.errors import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    ConfigError,
    HarnessError,
)
from eg_harness.runtime.progress import console
from eg_harness.runtime.runid import new_run_id
from eg_harness.targets.spec import TargetSpec, make_target


def add_parsers(sub) -> None:
    run = sub.add_parser("run", help="run suites against a target and write a report")
    run.set_defaults(func=cmd_run)
    TargetSpec.add_arguments(run, "kind", "config_path")
    run.add_argument("--suite", default="all", help="comma-separated suites, or 'all' (default)")
    TargetSpec.add_arguments(run, "report_dir", "run_id", "faults", "allow_destructive")
    kind = run.add_argument_group("kind target")
    TargetSpec.add_arguments(kind, "kind_cluster", "keep_cluster")
    TargetSpec.add_arguments(run.add_argument_group("node target"), "z2jh_chart")
    kind.add_argument(
        "--dry-run",
        action="store_true",
        help="print the whole plan (commands and values files) and run nothing",
    )
    add_parallel_argument(run)
    run.add_argument(
        "--phase",
        choices=["before", "after"],
        help="around an operator's own upgrade: recorded in results.json, the run id ends "
        "with it and reports/latest-<phase> points at it, for `eg-harness diff`",
    )
    repeat.add_arguments(run)
    run.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --: extra pytest arguments (e.g. -k interrupt)",
    )
    wt = sub.add_parser(
        "walltime",
        help="benchmark: warm wall time of suites on the local target, serial and parallel",
    )
    wt.set_defaults(func=cmd_walltime)
    wt.add_argument(
        "--suite", default="auth,startup", help="comma-separated suites (default auth,startup)"
    )
    wt.add_argument("--runs", type=int, default=1, help="measured runs per mode")
    wt.add_argument(
        "--warm-ups", type=int, default=1, help="uncounted runs first, to warm caches (default 1)"
    )
    wt.add_argument(
        "-n",
        "--workers",
        default="auto",
        metavar="N|auto",
        help="workers of the parallel runs (default auto); 0: serial runs only",
    )
    wt.add_argument("--slowest", type=int, default=10, help="list the N slowest tests of each mode")
    wt.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, help="after --: extra pytest arguments"
    )


def add_parallel_argument(parser) -> None:
    parser.add_argument(
        "-n",
        "--workers",
        default=None,
        metavar="N|auto",
        help="run in N pytest-xdist workers that share one stack (auto: one per core); tests "
        "marked serial run alone after the others; one report as for a serial run",
    )


def parallel_pytest_args(workers: str | None) -> list[str]:
    """pytest-xdist's options for `-n`: `load`, whose chunks the plugin makes one test long
    (fixtures/xdist.one_at_a_time), so a long stress test does not hold back a queue of short
    ones. Not `worksteal`: it splits the run in halves up front, and a worker whose half ends
    in the serial tests waits there instead of stealing (measured: one worker idle 352 s of a
    540 s run)."""
    if workers is None:
        return []
    if workers != "auto" and not (workers.isdigit() and int(workers) >= 0):
        raise ConfigError(f"-n {workers}: give a number of workers (0: serial) or 'auto'")
    if workers == "0":
        return []
    return ["-n", workers, "--dist", "load"]


def cmd_run(args) -> int:
    import pytest

    chosen = selected_suites(args.suite)
    if args.repeat < 1:
        raise ConfigError(f"--repeat {args.repeat}: give a number of runs, 1 or more")
    if args.phase and args.repeat > 1:
        raise ConfigError("--phase takes one run: drop --repeat")
    spec = TargetSpec.from_args(args).named(suffix=args.phase)
    run_id, report_dir = spec.run_id, spec.report_dir
    if spec.kind == "existing":
        spec.provider_options()  # no --target-config: a usage error, before any report
        # Config and reachability errors end here as one line, before pytest prints anything,
        # and as a report whose verdict says so (a gate reading results.json finds the error).
        try:
            make_target(spec).provision(lambda _m: None)
        except HarnessError as exc:
            return target_error_report(args, run_id, report_dir, exc)
    if spec.kind != "kind" and (args.dry_run or spec.kind_cluster or spec.keep_cluster):
        raise ConfigError(
            "--dry-run, --kind-cluster and --keep-cluster belong to --target kind: add it or "
            "drop them"
        )
    if spec.kind == "kind":
        from eg_harness.targets.kind import preflight, target

        if args.dry_run:
            plan = target.make_plan(
                run_id,
                kind_cluster=spec.kind_cluster,
                keep_cluster=spec.keep_cluster,
                progress=console(sys.stderr),
            )
            sys.stdout.write(plan.render())
            return EXIT_OK
        # Missing tools end here, in seconds, one line each, before pytest starts anything.
        preflight.require(reuse_cluster=spec.kind_cluster is not None)
    if spec.kind == "node":
        from eg_harness.targets.node import kept
        from eg_harness.targets.node import preflight as node_preflight
        from eg_harness.targets.node.z2jhchart import read_chart

        if spec.z2jh_chart:
            read_chart(spec.z2jh_chart)  # a bad --z2jh-chart: one line, exit 2, before preflight
        # What this machine lacks to host the cluster ends here, one line each, exit 3; a run
        # on a kept cluster (`eg-harness up --target node`) brings none up: nothing to check.
        if kept.find() is None:
            node_preflight.require(print)
    if spec.faults:
        from eg_harness.targets import faults

        # unknown, clashing or not for this target: one line, exit 2
        faults.resolve(spec.faults, target=spec.kind)
    if repeat.wanted(args):
        sigterm_as_interrupt()
        return repeat.cmd_repeat(args, spec)
    extra = list(args.pytest_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    pytest_args = [
        *(str(SCENARIOS / s) for s in chosen),
        f"--rootdir={SCENARIOS.parent}",
        *spec.to_pytest_args(),
        f"--junitxml={report_dir / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
        "--strict-markers",  # a misspelt marker must fail, not silently select nothing
        "-rfEs",
        # The CLI itself lives in the plugin's distribution, so pytest cannot rewrite it.
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    pytest_args += parallel_pytest_args(args.workers)
    if args.phase:
        pytest_args.append(f"--phase={args.phase}")
    pytest_args += extra
    from eg_harness.fixtures.collector import RunState

    collector = RunState()  # the run's record, handed to pytest and read back here
    collector.announce = False  # the path and the verdict are this command's last lines
    sigterm_as_interrupt()
    code = int(pytest.main(pytest_args, plugins=[collector]))
    report = report_dir / "report.html"
    if args.phase and report.exists():
        from eg_harness.report.files import point_latest

        point_latest(report_dir, f"latest-{args.phase}")  # only in the reports root
    if collector.collection_errors:  # pytest calls this "interrupted"; it is a broken scenario
        print(
            f"eg-harness: could not collect {', '.join(collector.collection_errors)}"
            " (see the error above): fix the scenario",
            file=sys.stderr,
        )
    verdict = collector.verdict
    if verdict is None:  # pytest stopped before its session (a bad pytest option): no report
        return collector.target_exit_code or _pytest_exit(code)
    if report.exists():
        print(f"report: {report}")  # the run's own directory, never a `latest` link
    print(verdict.line)
    return verdict.exit_code


def _pytest_exit(code: int) -> int:
    """pytest's exit status as the harness's, for a session that never reached its end."""
    return {0: EXIT_OK, 1: EXIT_FAILED, 2: EXIT_INTERRUPTED}.get(code, EXIT_USAGE)


def target_error_report(args, run_id: str, report_dir: Path, exc: HarnessError) -> int:
    """A target the CLI found unusable before pytest started still gets a report: its
    verdict (error, the exit code) is what a gate reads, not a missing file."""
    from eg_harness.report import verdict as verdicts
    from eg_harness.report.model import Results, Target
    from eg_harness.report.writer import write_report
    from eg_harness.runtime import secrets

    message = secrets.redact(str(exc))
    print(f"eg-harness: {message}", file=sys.stderr)
    results = Results.produced(
        "suite",
        run_id=run_id,
        command=sys.argv,
        target=Target(kind=args.target, error=message),
        phase=args.phase,
        selection=verdicts.Selection.of([], suites.folders()),
        verdict=verdicts.decide(counts={}, target_error=message, target_exit_code=exc.exit_code),
    )
    write_report(report_dir, results, redact=secrets.redact)
    print(f"report: {report_dir / 'report.html'}")
    print(results.verdict.line)
    return results.verdict.exit_code


def cmd_walltime(args) -> int:
    """Time whole `run`s in subprocesses, serial and parallel alternately in one invocation so
    both meet the same machine load; warm-up runs (parallel) warm caches and are not counted."""
    from eg_harness.cli import walltime

    selected_suites(args.suite)
    if args.runs < 1:
        raise ConfigError(f"--runs {args.runs}: give 1 or more")
    parallel_pytest_args(args.workers)  # a bad -n is a usage error before anything runs
    extra = [a for a in (args.pytest_args or []) if a != "--"]
    modes = [("serial", None)]
    if args.workers != "0":
        modes.append((f"-n {args.workers}", args.workers))
    keep = resources.reports_root() / f"walltime-{new_run_id()}"
    rows = walltime.measure(args.suite, modes, args.runs, extra, console(), args.warm_ups, keep)
    print(walltime.render(rows, args.slowest))
    print(f"each run's report: {keep}/r<N>/report.html")
    return EXIT_OK if all(r.returncode == 0 for r in rows) else EXIT_FAILED
