"""`eg-harness upgrade`: an upgrade A -> B with live users (a benchmark-like command: it prints
each step's figures and writes the report with the upgrade table). On the local target each
component is stopped and started at B; on the node target (`--target node`) EG's chart is
upgraded by helm on a real single-node Kubernetes."""

from __future__ import annotations

from typing import cast

from eg_harness.cli.common import selected_suites, sigterm_as_interrupt
from eg_harness.errors import ConfigError
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import UPGRADABLE, TargetSpec, make_target, provider
from eg_harness.targets.upgradable import Upgradable
from eg_harness.upgrade import runner
from eg_harness.upgrade.journey import Plan


def add_parsers(sub) -> None:
    u = sub.add_parser(
        "upgrade",
        help="upgrade a stack A -> B with live users and table what they lost",
        description="--target local: components stopped and started at B (default); node: EG's "
        "helm chart upgraded on a single-node Kubernetes (wrap in flock /tmp/team/node.lock)",
    )
    u.set_defaults(func=cmd_upgrade)
    TargetSpec.add_arguments(u, "kind", kinds=UPGRADABLE)
    u.add_argument(
        "--from",
        dest="origin",
        default=None,
        help="e.g. gateway=3.2.3,hub=5.5.4; a bare version names the gateway (3.2.3)",
    )
    u.add_argument("--to", dest="dest", default=None, help="default: today's pins")
    u.add_argument("--users", type=int, default=2, help="live users through the upgrade (2)")
    u.add_argument(
        "--steps",
        default=None,
        help="operator steps, in order (local: hub,gateway,gateway-persistent,user-servers; "
        "node: gateway-chart)",
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
        default=None,
        help="suites to run on the upgraded stack: all, quick (auth,startup), a list, or none "
        "(local: all; node: quick)",
    )
    TargetSpec.add_arguments(u, "faults", "run_id", "report_dir")


def suites_for(spec: str) -> str | None:
    if spec == "none":
        return None
    if spec == "quick":
        return runner.QUICK_SUITES
    chosen = [s for s in selected_suites(spec) if s != "upgrade"]
    if not chosen:
        raise ConfigError("--suite: the upgrade suite cannot run on the upgraded stack itself")
    return ",".join(chosen)


def route(target: str) -> type[Upgradable]:
    """What `target`'s upgrade class (the registry's) says of its upgrade: releases, steps,
    default suites. Every upgradable kind's class is one (tests/unit/targets/)."""
    return cast("type[Upgradable]", provider(target, upgrade=True))


def gateway_spec(spec: str | None) -> str | None:
    """`3.2.3` is `gateway=3.2.3`: on the node target the gateway is what an upgrade changes."""
    if spec and "=" not in spec and "," not in spec:
        return f"gateway={spec.strip()}"
    return spec


def version_sets(target: str, origin_spec: str | None, dest_spec: str | None):
    """A and B for `target`, as its upgrade class reads --from and --to (a bare version names
    the gateway)."""
    return route(target).upgrade_releases(gateway_spec(origin_spec), gateway_spec(dest_spec))


def parse_steps(target: str, spec: str | None) -> tuple[str, ...]:
    kind = route(target)
    text = spec if spec is not None else ",".join(kind.default_upgrade_steps)
    steps = tuple(s.strip() for s in text.split(",") if s.strip())
    allowed = kind.upgrade_steps
    unknown = [s for s in steps if s not in allowed]
    if unknown or not steps:
        raise ConfigError(
            f"--steps {text!r}: on the {target} target choose from {', '.join(allowed)}"
        )
    return steps


def cmd_upgrade(args) -> int:
    origin, dest = version_sets(args.target, args.origin, args.dest)
    steps = parse_steps(args.target, args.steps)
    if args.users < 1:
        raise ConfigError(f"--users {args.users}: give 1 or more")
    kind = route(args.target)
    if args.cleanup_servers and kind.refuses_cleanup_servers:
        raise ConfigError(f"--cleanup-servers: {kind.refuses_cleanup_servers}")
    suites = suites_for(args.suite if args.suite is not None else kind.default_upgrade_suite)
    plan = Plan(
        origin=origin,
        dest=dest,
        users=args.users,
        steps=steps,
        spark=not args.no_spark,
        recover_timeout=args.recover_timeout,
        cleanup_servers=args.cleanup_servers,
    )
    spec = TargetSpec.from_args(args).named()
    run_id, report_dir = spec.run_id, spec.report_dir
    # The kind's upgrade class from the registry (eg_harness.targets.spec.PROVIDERS): the stack
    # at A, with the ability the plan's steps ask for. A provider takes the choices it names.
    target = make_target(
        spec,
        upgrade=True,
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
    # The one verdict (eg_harness.report.verdict), as results.json has it.
    print(results.verdict.line)
    return results.verdict.exit_code
