"""`eg-harness soak --runs N`: does anything leak when runs end badly, again and again?

One run that cleans up proves little; leaks show up when runs are interrupted at awkward
moments or fail half-way, many times. The soak repeats a suite N times, each run a fresh
`eg-harness run` in its own process group (as a terminal starts it), and plans from a seeded
RNG (the seed is printed, so a soak can be replayed) which runs get a Ctrl-C (SIGINT to the
group) at a random moment and which get a seeded fault so their scenarios fail. After every run
it counts what the run left (eg_harness.runtime.leftovers: processes carrying the run id, listening
ports, run and temp dirs, state files; on a reused deployment, kernels, hub users and servers
that were not there before), removes it so the next run starts clean, and at the end prints a
table with the totals. Any leftover, a run that did not stop after its Ctrl-C, or a run that
was not interrupted yet ended without a verdict (no results.json, or an exit code other than 0
or 1), fails the soak (exit 1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from eg_harness.cli import repeat
from eg_harness.cli.common import deprecated_alias, selected_suites, sigterm_as_interrupt
from eg_harness.errors import EXIT_FAILED, EXIT_OK, ConfigError
from eg_harness.runtime import leftovers, processes
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import TargetSpec, make_target

RUN_TIMEOUT_S = 1800.0  # a run that takes longer is stopped like an interrupted one
LATE_RETRIES = 2  # an interrupt that came after the run's work is tried again, earlier
STOP_TIMEOUT_S = 120.0  # after a Ctrl-C, the run's own teardown must finish within this


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "soak", help="repeat a suite, interrupting and failing some runs; count leaks"
    )
    p.set_defaults(func=cmd_soak)
    p.add_argument("--runs", type=int, required=True, metavar="N", help="how many runs")
    p.add_argument("--suite", default="auth", help="one suite or a comma list (default auth)")
    TargetSpec.add_arguments(p, "kind", "config_path", kinds=("local", "existing"))
    p.add_argument("--seed", type=int, help="seed of the plan (default: random, printed)")
    p.add_argument(
        "--interrupts",
        type=int,
        help="how many runs get a Ctrl-C at a random moment (default: a third of the runs)",
    )
    p.add_argument(
        "--failures",
        type=int,
        help="how many runs get a seeded fault so they fail (default: a fifth; local target)",
    )
    p.add_argument(
        "--local-fault",
        dest="fault",
        metavar="NAME",
        help="the fault seeded into the failing runs (default: the first one a chosen suite "
        "catches; see `eg-harness faults`)",
    )
    deprecated_alias(p, "--fault", "fault")
    TargetSpec.add_arguments(p, "report_dir")  # the runs' reports and soak.txt
    p.add_argument("--run-timeout", type=float, default=RUN_TIMEOUT_S, help=argparse.SUPPRESS)
    p.add_argument("pytest_args", nargs=argparse.REMAINDER, help="after --: extra pytest arguments")


@dataclass
class PlannedRun:
    index: int
    kind: str  # "clean", "interrupt" or "fault"
    interrupt_fraction: float | None = None  # of the first run's wall time
    fault: str | None = None


def plan(
    runs: int, interrupts: int, failures: int, seed: int, fault: str | None
) -> list[PlannedRun]:
    """Which runs are interrupted (and at what fraction of a run's length) and which fail.

    The first run is always clean: its wall time is what the interrupt moments are drawn from.
    """
    if runs < 1:
        raise ConfigError(f"--runs {runs}: give a number of runs, 1 or more")
    if interrupts < 0 or failures < 0 or interrupts + failures > runs - 1:
        raise ConfigError(
            f"--interrupts {interrupts} and --failures {failures} must fit in the {runs - 1} "
            "runs after the first (which is always clean)"
        )
    rng = random.Random(seed)
    later = list(range(2, runs + 1))
    chosen = rng.sample(later, interrupts + failures)
    interrupted, failing = set(chosen[:interrupts]), set(chosen[interrupts:])
    out = []
    for i in range(1, runs + 1):
        if i in interrupted:
            out.append(PlannedRun(i, "interrupt", interrupt_fraction=rng.uniform(0.02, 0.98)))
        elif i in failing:
            out.append(PlannedRun(i, "fault", fault=fault))
        else:
            out.append(PlannedRun(i, "clean"))
    return out


def default_fault(suites: list[str]) -> str | None:
    from eg_harness.targets.faults import CATALOGUE

    return next((f.name for f in CATALOGUE if f.suite in suites), None)


@dataclass
class RunResult:
    index: int
    kind: str
    run_id: str
    exit_code: int | None
    seconds: float
    interrupted_at_s: float | None = None
    stuck: bool = False  # did not stop after its Ctrl-C (or its time limit) and was killed
    broken: str = ""  # a run that was not interrupted yet ended without a verdict: why
    late_interrupts: int = 0  # earlier tries whose Ctrl-C came after the run had finished
    left: dict[str, list[str]] = field(default_factory=dict)

    @property
    def leftovers(self) -> int:
        return sum(len(v) for v in self.left.values())


def _child_argv(args, run_id: str, report_dir: Path, fault: str | None) -> list[str]:
    """One serial run (interrupts and counts stay attributable) with its own id and fault."""
    child = TargetSpec(
        kind=args.target,
        config_path=args.target_config,
        run_id=run_id,
        report_dir=report_dir,
        faults=(fault,) if fault else (),
    )
    return repeat.child_argv(child, args.suite, None, args.pytest_args)


def _stop(proc: subprocess.Popen, sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except ProcessLookupError:
        pass


def _run_once(args, planned: PlannedRun, run_id: str, parent: Path, moment: float | None, say):
    report_dir = parent / f"run-{planned.index}"
    argv = _child_argv(args, run_id, report_dir, planned.fault)
    log = open(parent / f"run-{planned.index}.log", "wb")  # noqa: SIM115 - closed below
    t0 = time.monotonic()
    # A group of its own, as a terminal gives a command: the Ctrl-C goes to the group.
    proc = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    result = RunResult(planned.index, planned.kind, run_id, None, 0.0)
    try:
        _wait(proc, planned, moment, result, t0, args, say)
    except KeyboardInterrupt:
        # The soak itself was stopped: pass the Ctrl-C on and let the run clean up first.
        _stop(proc, signal.SIGINT)
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pass
        raise
    finally:
        if proc.poll() is None:
            _stop(proc, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
    result.exit_code = proc.returncode
    result.seconds = time.monotonic() - t0
    return result, report_dir


def _wait(proc, planned: PlannedRun, moment, result: RunResult, t0: float, args, say) -> None:
    """Wait for the run; at its moment (or its time limit) Ctrl-C it and wait for its teardown."""
    deadline = t0 + (moment if moment is not None else args.run_timeout)
    try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        return
    except subprocess.TimeoutExpired:
        pass
    result.interrupted_at_s = time.monotonic() - t0
    if moment is None:
        say(f"run {planned.index} exceeded {args.run_timeout:.0f}s: Ctrl-C")
    _stop(proc, signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        result.stuck = True
        _stop(proc, signal.SIGKILL)
        proc.wait(timeout=30)


def _came_late(result: RunResult) -> bool:
    """A run planned to be interrupted that still ended with a verdict: the Ctrl-C landed after
    its work, or the run ended before its moment came."""
    return (
        result.kind == "interrupt"
        and not result.stuck
        and result.exit_code in (EXIT_OK, EXIT_FAILED)
    )


def _endpoint_ports(report_dir: Path) -> list[int]:
    saved = report_dir / "results.json"
    if not saved.exists():
        return []
    try:
        doc = json.loads(saved.read_text())
    except ValueError:
        return []
    return leftovers.ports_of((doc.get("target") or {}).get("endpoints") or {})


def _broken(result: RunResult, report_dir: Path) -> str:
    """Why a run that was not cut short gave no verdict: a soak whose runs never got going
    would count no leftovers and prove nothing."""
    if result.interrupted_at_s is not None:
        return ""
    if result.exit_code not in (EXIT_OK, EXIT_FAILED):
        return f"exit {result.exit_code}"
    if not (report_dir / "results.json").exists():
        return "no results.json (see the run's log)"
    return ""


def _clean(run_id: str, left: leftovers.Leftovers) -> None:
    """Remove what a run left, so the next run starts from a clean machine."""
    processes.sweep_run(run_id, f"eg-harness-{run_id}-")
    for d in left.dirs:
        path = Path(d)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _deployment(args):
    if args.target != "existing":
        return None
    from eg_harness.clients.hub import HubClient

    target = make_target(TargetSpec.from_args(args))
    target.provision(lambda _m: None)
    hub = HubClient(target.hub.url, target.hub.api_token) if target.hub else None
    prefix = target.hub.user_prefix if target.hub else "egh-"
    return leftovers.Deployment(target.gateway.client(), hub, prefix)


def render(results: list[RunResult]) -> str:
    cats = leftovers.CATEGORIES
    head = f"{'run':>4}  {'kind':24} {'exit':>5} {'secs':>6}  " + "  ".join(f"{c:>9}" for c in cats)
    lines = [head, "-" * len(head)]
    for r in results:
        kind = r.kind
        if r.kind == "interrupt":
            at = r.interrupted_at_s
            kind = f"Ctrl-C at {at:.1f}s" if at is not None else "finished before Ctrl-C"
        if r.late_interrupts:
            kind += f" ({r.late_interrupts} late)"
        if r.stuck:
            kind += " STUCK"
        if r.broken:
            kind += " BROKEN"
        counts = "  ".join(f"{len(r.left.get(c, [])):>9}" for c in cats)
        lines.append(f"{r.index:>4}  {kind:24} {r.exit_code!s:>5} {r.seconds:6.1f}  {counts}")
    totals = "  ".join(f"{sum(len(r.left.get(c, [])) for r in results):>9}" for c in cats)
    lines += ["-" * len(head), f"{'all':>4}  {'':24} {'':>5} {'':>6}  {totals}"]
    return "\n".join(lines)


def cmd_soak(args) -> int:
    chosen = selected_suites(args.suite)
    TargetSpec.from_args(args).provider_options()  # e.g. existing without --target-config
    interrupts = args.runs // 3 if args.interrupts is None else args.interrupts
    fault = args.fault or default_fault(chosen)
    failures = (args.runs // 5 if args.failures is None else args.failures) if fault else 0
    if args.target != "local" and (args.failures or args.fault):
        raise ConfigError("--failures and --local-fault seed local faults: use --target local")
    if args.target != "local":
        failures = 0
    if fault:
        from eg_harness.targets import faults

        faults.resolve([fault])
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(2**31)
    runs = plan(args.runs, interrupts, failures, seed, fault)
    named = TargetSpec.from_args(args).named()
    soak_id, parent = named.run_id, named.report_dir
    parent.mkdir(parents=True, exist_ok=True)
    say = console()
    say(
        f"soak {soak_id}: {args.runs} run(s) of --suite {args.suite}, seed {seed} "
        f"(replay with --seed {seed}); {interrupts} interrupted, {failures} with fault {fault}"
    )
    sigterm_as_interrupt()
    deployment = _deployment(args)
    results: list[RunResult] = []
    first_run_s: float | None = None
    try:
        for planned in runs:
            run_id = f"{soak_id}-s{planned.index}"
            moment = None
            if planned.kind == "interrupt" and first_run_s is not None:
                moment = planned.interrupt_fraction * first_run_s
            late = 0
            while True:
                what = {
                    "clean": "clean",
                    "interrupt": f"Ctrl-C after {moment:.1f}s" if moment is not None else "clean",
                    "fault": f"fault {planned.fault}",
                }[planned.kind]
                say(f"soak run {planned.index}/{args.runs} ({what}): run id {run_id}")
                before = deployment.snapshot() if deployment else None
                try:
                    result, report_dir = _run_once(args, planned, run_id, parent, moment, say)
                except KeyboardInterrupt:
                    _clean(run_id, leftovers.of_run(run_id))
                    raise
                if planned.index == 1:
                    first_run_s = result.seconds
                found = leftovers.of_run(run_id, ports=_endpoint_ports(report_dir))
                if deployment is not None:
                    deployment.add_new(found, before)
                result.left = {c: getattr(found, c) for c in leftovers.CATEGORIES}
                result.broken = _broken(result, report_dir)
                result.late_interrupts = late
                if not (_came_late(result) and not found.total and late < LATE_RETRIES):
                    break
                # The moment is drawn from the first run's length; a faster run had finished
                # its work (a verdict, exit 0/1) when the Ctrl-C came, so it proved nothing
                # about an interrupted run. It left nothing: again, earlier.
                late += 1
                moment = (moment or 0.0) / 2
                say(
                    f"soak run {planned.index}: the Ctrl-C came after the run had finished "
                    f"(exit {result.exit_code}): again at {moment:.1f}s"
                )
                _clean(run_id, found)
                run_id = f"{soak_id}-s{planned.index}r{late}"
            results.append(result)
            say(
                f"soak run {planned.index}: exit {result.exit_code} in {result.seconds:.0f}s, "
                f"{found.total} left"
                + ("; STUCK after Ctrl-C" if result.stuck else "")
                + (f"; BROKEN: {result.broken}" if result.broken else "")
            )
            for line in found.lines():
                say(f"  left: {line}")
            _clean(run_id, found)
    finally:
        text = render(results)
        left = sum(r.leftovers for r in results)
        stuck = sum(r.stuck for r in results)
        broken = sum(bool(r.broken) for r in results)
        summary = (
            f"soak {soak_id}: {len(results)}/{args.runs} run(s) of --suite {args.suite}, seed "
            f"{seed}: {left} leftover(s), {stuck} stuck run(s), {broken} broken run(s)"
        )
        print(f"\n{summary}\n{text}", flush=True)
        (parent / "soak.txt").write_text(f"{summary}\n{text}\n")
        (parent / "soak.json").write_text(
            json.dumps(
                {
                    "soak_id": soak_id,
                    "seed": seed,
                    "suite": args.suite,
                    "runs": [asdict(r) | {"leftovers": r.leftovers} for r in results],
                    "leftovers": left,
                    "stuck": stuck,
                    "broken": broken,
                },
                indent=2,
            )
        )
        print(f"soak table: {parent / 'soak.txt'}")
    return EXIT_FAILED if left or stuck or broken else EXIT_OK
