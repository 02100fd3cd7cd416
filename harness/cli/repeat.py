"""`eg-harness run --repeat N [--cpu-hog]`: is a verdict stable, also on a busy machine?

A gate is trusted when a correct deployment passes every time. Running the selection N times
(each a fresh `eg-harness run` in its own process, run id and report dir under one parent) and
tabling each scenario's outcomes shows flakiness directly; `--cpu-hog` keeps one core busy
with a process the harness starts and always stops, to see which verdicts a loaded machine
changes. A scenario that failed in any run fails the whole repeat (exit 1); inconclusive
results are counted apart, never as failures.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import contextmanager

from eg_harness.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK
from eg_harness.report.model import Results
from eg_harness.report.writer import load_results
from eg_harness.targets.spec import TargetSpec

OUTCOMES = ("passed", "failed", "skipped", "inconclusive")


def add_arguments(run) -> None:
    run.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the selection N times and table each scenario's outcomes",
    )
    run.add_argument(
        "--cpu-hog",
        action="store_true",
        help="keep one core busy while the runs go (a noise check under load)",
    )


def wanted(args) -> bool:
    return args.repeat > 1 or args.cpu_hog


# The run's own verdict per test (eg_harness.report.outcomes decided it) folded into the
# table's four columns: a confirmed known bug (xfailed) or a non-strict xpass does not fail a run.
_COLUMN = {
    "passed": "passed",
    "xfailed": "passed",
    "xpassed": "passed",
    "failed": "failed",
    "error": "failed",
    "skipped": "skipped",
    "inconclusive": "inconclusive",
}


def outcomes_of(results: Results) -> dict[str, str]:
    """Scenario node id -> the table's outcome, from a run's results document."""
    return {t.nodeid: _COLUMN[t.outcome] for t in results.tests}


def tally(runs: list[dict[str, str]]) -> dict[str, Counter]:
    """Per scenario, how many runs gave each outcome; a scenario missing from a run (that run
    crashed or was cut short) counts as failed there, so a lost run cannot look clean."""
    names = sorted({name for run in runs for name in run})
    return {name: Counter(run.get(name, "failed") for run in runs) for name in names}


def render(table: dict[str, Counter], n: int) -> str:
    width = max([len("scenario"), *(len(k) for k in table)])
    head = f"{'scenario':{width}}  " + "  ".join(f"{o:>12}" for o in OUTCOMES)
    lines = [head, "-" * len(head)]
    for name, counts in table.items():
        cells = "  ".join(f"{f'{counts[o]}/{n}':>12}" for o in OUTCOMES)
        lines.append(f"{name:{width}}  {cells}")
    return "\n".join(lines)


@contextmanager
def cpu_hog(enabled: bool):
    """One busy process for the duration; stopped on any exit, Ctrl-C included."""
    if not enabled:
        yield None
        return
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True)
    print(f"[eg-harness] cpu hog running (pid {proc.pid})", flush=True)
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        print(f"[eg-harness] cpu hog stopped (pid {proc.pid})", flush=True)


def child_argv(spec: TargetSpec, suite: str, workers: str | None, pytest_args) -> list[str]:
    """One `eg-harness run` of `suite` on the target `spec` describes (its run id and report
    dir included), in a process of its own."""
    argv = [sys.executable, "-m", "eg_harness", "run", "--suite", suite, *spec.to_args()]
    if workers is not None:
        argv += ["-n", workers]
    extra = [a for a in (pytest_args or []) if a != "--"]
    return argv + (["--", *extra] if extra else [])


CHILD_TEARDOWN_S = 180.0  # a child run tearing its stack down after an interrupt


def run_child(argv: list[str]) -> int:
    """One child run, to its end, and its exit code.

    An interrupt of this process alone (`kill -INT <pid>`, a CI runner's SIGTERM) is passed on
    as SIGINT and the child is waited for, so it tears its stack down and the repeat still
    writes its table; subprocess.run would SIGKILL the child a quarter second after the
    interrupt and orphan its stack. A terminal's Ctrl-C reaches both: the second SIGINT is
    harmless (the child defers signals during teardown).
    """
    from eg_harness.runtime.processes import signals_deferred

    proc = subprocess.Popen(argv)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        with signals_deferred():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
            try:
                proc.wait(CHILD_TEARDOWN_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return EXIT_INTERRUPTED


def cmd_repeat(args, spec: TargetSpec) -> int:
    """`spec`'s run id and report dir are the parent's; each run gets its own under them."""
    parent_id, parent = spec.run_id, spec.report_dir
    parent.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, str]] = []
    codes: list[int] = []
    with cpu_hog(args.cpu_hog):
        for i in range(1, args.repeat + 1):
            run_id = f"{parent_id}-r{i}"
            print(f"[eg-harness] repeat {i}/{args.repeat}: run id {run_id}", flush=True)
            t0 = time.monotonic()
            child = spec.model_copy(update={"run_id": run_id, "report_dir": parent / f"run-{i}"})
            code = run_child(child_argv(child, args.suite, args.workers, args.pytest_args))
            codes.append(code)
            saved = parent / f"run-{i}" / "results.json"
            runs.append(outcomes_of(load_results(saved)) if saved.exists() else {})
            print(f"[eg-harness] repeat {i}: exit {code} in {time.monotonic() - t0:.0f}s")
            if code not in (EXIT_OK, EXIT_FAILED):  # usage, target or interrupt: stop here
                break
    table = tally(runs)
    text = render(table, len(runs))
    load = " with one core kept busy (--cpu-hog)" if args.cpu_hog else ""
    summary = f"{len(runs)} run(s) of --suite {args.suite}{load}; exit codes {codes}"
    print(f"\n{summary}\n{text}")
    (parent / "repeat.txt").write_text(f"{summary}\n{text}\n")
    (parent / "repeat.json").write_text(
        json.dumps(
            {
                "runs": len(runs),
                "cpu_hog": args.cpu_hog,
                "exit_codes": codes,
                "scenarios": {k: dict(v) for k, v in table.items()},
            },
            indent=2,
        )
    )
    print(f"repeat table: {parent / 'repeat.txt'}")
    bad = next((c for c in codes if c not in (EXIT_OK, EXIT_FAILED)), None)
    if bad is not None:
        return bad
    return EXIT_FAILED if any(c["failed"] for c in table.values()) else EXIT_OK
