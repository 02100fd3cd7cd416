"""Benchmarks and the release gate: `bench`, `baseline`, `gate`, `bench-ws`."""

from __future__ import annotations

import sys
from pathlib import Path

from eg_harness.cli.common import HELP_KERNELSPEC, deprecated_alias, sigterm_as_interrupt
from eg_harness.errors import EXIT_FAILED, EXIT_INCONCLUSIVE, EXIT_INVALID, EXIT_OK, ConfigError
from eg_harness.report.files import append_step_summary
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import TargetSpec, make_target


def add_parsers(sub) -> None:
    bw = sub.add_parser(
        "bench-ws",
        help="benchmark: harness channels client vs a raw loop; --sessions N: N concurrent "
        "kernel sessions from one process",
    )
    bw.set_defaults(func=cmd_bench_ws)
    bw.add_argument(
        "--rounds", type=int, default=200, help="execute round trips per client (default 200)"
    )
    bw.add_argument(
        "--sessions", type=int, default=0, help="hold N concurrent sessions (asyncio, one core)"
    )
    bw.add_argument("--per-kernel", type=int, default=10, help="sessions sharing one kernel")
    bw.add_argument("--period", type=float, default=30.0, help="seconds between executes")
    bw.add_argument("--duration", type=float, default=60.0, help="seconds of load, all open")
    bw.add_argument("--gateways", type=int, default=1, help="spread over N gateway processes")
    bw.add_argument(
        "--baseline-executes",
        type=int,
        default=40,
        help="--sessions: executes timed from one session before the others open (default 40)",
    )
    bw.add_argument(
        "--gateway-env",
        action="append",
        default=[],
        metavar="EG_NAME=VALUE",
        help="an EG_* setting for every local gateway, e.g. EG_ZMQ_MAX_SOCKETS=4096",
    )
    bw.add_argument(
        "--starve-generator",
        action="store_true",
        help="negative twin: block the generator's loop 90%% of the time (must exit 4)",
    )
    TargetSpec.add_arguments(bw, "run_id", "report_dir")
    b = sub.add_parser("bench", help="benchmark: launch storms up a ladder, churn, knee, ceiling")
    b.set_defaults(func=cmd_bench)
    # node: a kept cluster (`eg-harness up --target node`) if one is up, else one of its own.
    TargetSpec.add_arguments(
        b, "kind", "config_path", "faults", kinds=("local", "existing", "node")
    )
    b.add_argument("--ladder", default="1,2,5,10,20", help="concurrency steps, e.g. 1,2,5")
    b.add_argument(
        "--journey",
        choices=["gateway", "hub"],
        default="gateway",
        help="start kernels at the gateway (default) or through the hub (spawn, then start)",
    )
    b.add_argument("--kernelspec", default=None, help=HELP_KERNELSPEC)
    b.add_argument("--churn-users", type=int, default=3, help="0 to skip the churn phase")
    b.add_argument(
        "--churn-seconds", type=float, default=30.0, help="how long the churn phase runs (30)"
    )
    # Load-generator processes, not pytest-xdist workers (`run -n/--workers`): their own name.
    b.add_argument(
        "--load-workers",
        dest="workers",
        type=int,
        default=0,
        metavar="N",
        help="locust worker processes for the churn phase (eg-harness load-worker)",
    )
    deprecated_alias(b, "--workers", "workers", type=int)
    b.add_argument(
        "--external-workers",
        action="store_true",
        help="the --load-workers connect from elsewhere (eg-harness load-worker, e.g. the "
        "Deployment in clusters/incluster/); the master listens on 0.0.0.0:--master-port",
    )
    b.add_argument(
        "--master-port",
        type=int,
        default=5557,
        help="the locust master's port for --external-workers (default 5557)",
    )
    b.add_argument(
        "--spawn-limit",
        type=int,
        default=None,
        help="local target: the hub's concurrent_spawn_limit (JupyterHub's default: 100)",
    )
    b.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run the ladder (and churn) N times on one deployment; the gate and diff judge "
        "changes against the spread of these repeats",
    )
    b.add_argument(
        "--workload",
        default=None,
        metavar="FILE",
        help="run a workload/SLO file instead of the ladder (clusters/examples/workload-*.yaml)",
    )
    TargetSpec.add_arguments(b, "run_id", "report_dir")
    b.add_argument(
        "--history",
        default="reports/bench-history.jsonl",
        help="JSON lines file each bench appends its figures to ('' for none)",
    )
    w = sub.add_parser(
        "load-worker",
        help="run one locust worker for a bench's master elsewhere (until the master quits)",
    )
    w.set_defaults(func=cmd_load_worker)
    # the same deployment as the master's: existing only
    TargetSpec.add_arguments(
        w, "kind", "config_path", kinds=("existing",), required=("config_path",)
    )
    w.add_argument("--master-host", required=True, help="where the bench's locust master runs")
    w.add_argument(
        "--master-port", type=int, default=5557, help="the master's --master-port (5557)"
    )
    w.add_argument(
        "--journey",
        choices=["gateway", "hub"],
        default="gateway",
        help="the master's --journey (default gateway)",
    )
    w.add_argument("--kernelspec", default=None, help=HELP_KERNELSPEC)
    bl = sub.add_parser("baseline", help="save a bench's figures as a release-gate baseline")
    bl.set_defaults(func=cmd_baseline)
    bl.add_argument(
        "--from",
        dest="source",
        default="reports/latest-bench",
        help="a bench report dir or results.json (default: the latest bench)",
    )
    bl.add_argument("--out", required=True, help="the baseline file to write (JSON)")
    g = sub.add_parser(
        "gate",
        help="compare a bench with a baseline; exit 1 on a regression, 5 when single runs are "
        "past a default limit (noise unknown)",
    )
    g.set_defaults(func=cmd_gate)
    g.add_argument(
        "--baseline", required=True, help="a baseline file (eg-harness baseline) or a bench"
    )
    g.add_argument(
        "--current",
        default="reports/latest-bench",
        help="a bench report dir or results.json (default: the latest bench)",
    )
    g.add_argument(
        "--thresholds",
        default=None,
        help="YAML with p95_ttfe_max_increase, ...: limits set here judge single runs too",
    )
    g.add_argument(
        "--limit",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set one limit, e.g. p50_ttfe_max_increase=0.3 (after --thresholds); a limit you "
        "set judges single runs, a default one only repeated benches",
    )


def cmd_bench_ws(args) -> int:
    if args.sessions:
        return cmd_bench_sessions(args)
    from eg_harness.load import bench_ws

    say = console()
    target = make_target(TargetSpec.from_args(args))
    sigterm_as_interrupt()
    try:
        target.provision(say)
        res = bench_ws.run(
            target.gateway.url, target.gateway.token, "python3", rounds=args.rounds, progress=say
        )
    finally:
        target.teardown()
    bench_ws.print_report(res)
    return EXIT_OK


def cmd_bench_sessions(args) -> int:
    from eg_harness.load import bench_sessions
    from eg_harness.load.sessions import SessionsSettings

    if args.sessions < 1 or args.per_kernel < 1 or args.gateways < 1:
        raise ConfigError("--sessions, --per-kernel and --gateways must be positive integers")
    if args.period <= 0 or args.duration <= 0:
        raise ConfigError("--period and --duration must be positive seconds")
    settings = SessionsSettings(
        sessions=args.sessions,
        per_kernel=args.per_kernel,
        period_s=args.period,
        duration_s=args.duration,
        gateways=args.gateways,
        baseline_executes=max(args.baseline_executes, 1),
        starve_generator=args.starve_generator,
    )
    gateway_env = {}
    for item in args.gateway_env:
        key, sep, value = item.partition("=")
        if not sep or not key.startswith("EG_") or not key.replace("_", "").isalnum():
            raise ConfigError(f"--gateway-env {item!r} must be EG_NAME=VALUE")
        gateway_env[key] = value
    spec = TargetSpec.from_args(args).named()
    run_id, report_dir = spec.run_id, spec.report_dir
    target = make_target(spec, gateway_env=gateway_env)
    sigterm_as_interrupt()
    results = bench_sessions.bench(target, settings, report_dir, run_id, progress=console())
    bench_sessions.print_summary(results)
    print(f"report: {report_dir / 'report.html'} (OpenMetrics: {report_dir / 'metrics.om'})")
    if results.cleanup_left:
        print(f"eg-harness: left behind: {results.cleanup_left}", file=sys.stderr)
    print(results.verdict.line)
    return results.verdict.exit_code


def _ladder(text: str) -> list[int]:
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        steps = []
    if not steps or any(n < 1 for n in steps) or steps != sorted(set(steps)):
        raise ConfigError(f"--ladder {text!r} must be rising positive integers, e.g. 1,2,5,10")
    return steps


def cmd_load_worker(args) -> int:
    """A worker of `bench --external-workers`: it reaches the same target as the master (its
    own copy of the target config) and reports to the master."""
    from eg_harness.load import runner

    target = make_target(TargetSpec.from_args(args))
    sigterm_as_interrupt()
    target.provision(console())  # an existing target: only proves it is reachable
    return runner.run_worker(
        target, args.master_host, args.master_port, args.journey, args.kernelspec
    )


def cmd_bench(args) -> int:
    from eg_harness.load import bench
    from eg_harness.load.plan import BenchSettings

    if args.workload:
        return cmd_workload(args)
    settings = BenchSettings(
        ladder=_ladder(args.ladder),
        journey=args.journey,
        kernelspec=args.kernelspec,
        churn_users=max(args.churn_users, 0),
        churn_seconds=args.churn_seconds,
        workers=max(args.workers, 0),
        external_workers=args.external_workers,
        master_port=args.master_port,
        spawn_limit=args.spawn_limit,
        repeat=args.repeat,
    )
    if args.repeat < 1:
        raise ConfigError(f"--repeat {args.repeat} must be 1 or more (3 or more to judge noise)")
    if args.external_workers and not args.workers:
        raise ConfigError(
            "--external-workers needs --load-workers N: how many the master waits for"
        )
    if args.spawn_limit is not None and (args.target != "local" or args.spawn_limit < 1):
        raise ConfigError(
            "--spawn-limit is a positive number of spawns and sets the local target's hub; "
            "an existing hub's limit is its own configuration"
        )
    spec = TargetSpec.from_args(args).named()
    run_id, report_dir = spec.run_id, spec.report_dir
    # Gateway journeys never touch a hub: a stack of its own is the gateway alone (a provider
    # that stands up nothing takes no with_hub and hub_settings: make_target passes them only
    # to one that does).
    options: dict = {"with_hub": settings.journey == "hub" or args.spawn_limit is not None}
    if args.spawn_limit is not None:
        options["hub_settings"] = {"concurrent_spawn_limit": args.spawn_limit}
    target = make_target(spec, **options)
    history = Path(args.history) if args.history else None
    say = console()
    sigterm_as_interrupt()
    results = bench.bench(target, settings, report_dir, run_id, history, progress=say)
    # One judgement (the report's verdict: left behind, invalid figures, failed steps with
    # EG's port race counted apart, a hub past its spawn limit), printed as every run ends.
    verdict = results.verdict
    print(verdict.line)
    return verdict.exit_code


def cmd_workload(args) -> int:
    from eg_harness.load import workload, workload_bench

    wl = workload.load(args.workload)  # a bad file is exit 2 before anything starts
    if args.repeat != 1:
        raise ConfigError("--repeat does not apply to --workload: lengthen duration_s instead")
    spec = TargetSpec.from_args(args).named()
    run_id, report_dir = spec.run_id, spec.report_dir
    target = make_target(spec, with_hub=wl.journey == "hub")
    say = console()
    sigterm_as_interrupt()
    doc = workload_bench.run(target, wl, report_dir, run_id, progress=say)
    left = {k: v for k, v in (doc.cleanup or {}).items() if v}
    if left:
        print(f"eg-harness: left behind: {left}", file=sys.stderr)
        return EXIT_FAILED
    if not doc.valid:
        return EXIT_INVALID
    missed = [v for v in doc.objectives if not v.met]
    if missed:
        print(f"OBJECTIVES NOT MET: {len(missed)} of {len(doc.objectives)}")
        return EXIT_FAILED
    print(f"all {len(doc.objectives)} objectives met")
    return EXIT_OK


def cmd_baseline(args) -> int:
    from eg_harness.load import gate

    figs = gate.make_baseline(args.source, args.out).figures
    levels = ", ".join(figs.storms) or "none"
    print(
        f"baseline written to {args.out} (storms: {levels}; churn: {'yes' if figs.churn else 'no'})"
    )
    if not figs.valid:
        print("eg-harness: warning: the source bench was marked invalid", file=sys.stderr)
    return EXIT_OK


def cmd_gate(args) -> int:
    from eg_harness.load import gate

    thresholds = gate.load_thresholds(args.thresholds, args.limit)
    base = gate.read_figures(args.baseline)
    cur = gate.read_figures(args.current)
    for name, figs in (("baseline", base), ("current", cur)):
        if not figs.valid:
            print(
                f"eg-harness: the {name} bench is invalid (its load generator was the "
                "bottleneck): rerun it with fewer users per process or more --load-workers",
                file=sys.stderr,
            )
            return EXIT_INVALID
    checks = gate.compare(base, cur, thresholds)
    if not checks:
        raise ConfigError(
            "the baseline and the current bench share no storm level or churn: "
            "run both with the same --ladder"
        )
    title = f"Release gate: {args.current} against {args.baseline}"
    gate.print_checks(checks, title)
    append_step_summary(gate.markdown(checks, title))
    verdict, _heading = gate.outcome(checks)
    regressed = [c for c in checks if c.regressed]
    if verdict == "regressed":
        print(
            f"REGRESSION: {len(regressed)} of {len(checks)} checks: "
            + "; ".join(f"{c.level} {c.figure} {c.change.describe()}" for c in regressed)
        )
        return EXIT_FAILED
    if verdict == "inconclusive":
        open_ = [c for c in checks if c.inconclusive]
        fields = sorted({c.field for c in open_})
        print(
            f"INCONCLUSIVE: {len(open_)} of {len(checks)} checks past a default limit on "
            "figures whose noise is unknown: "
            + "; ".join(f"{c.level} {c.figure} {c.change.describe()}" for c in open_)
            + f". Run both benches with --repeat {open_[0].repeats_needed} or more, or set the "
            + "limit yourself ("
            + ", ".join(f"--limit {f}=VALUE" for f in fields)
            + "), which judges single runs as they are"
        )
        return EXIT_INCONCLUSIVE
    checks = [c for c in checks if c.figure != gate.MACHINE]
    unsure = [c for c in checks if c.change.verdict == "unsure" or c.note]
    single = [c for c in checks if c.change.beyond is None or c.change.verdict == "too few"]
    print(
        f"gate passed: {len(checks)} checks; {len(checks) - len(unsure) - len(single)} within "
        f"their limits at {thresholds.confidence:.0%} confidence"
        + (
            f"; {len(unsure)} not shown to regress (intervals straddling the limit, or figures "
            "not judged on a busier machine: more --repeat would tell)"
            if unsure
            else ""
        )
        + (
            f"; {len(single)} within their limits on single figures (noise unknown: a default "
            "limit cannot fail them; --repeat on both benches would judge them)"
            if single
            else ""
        )
    )
    return EXIT_OK
