"""`bench-flood`: where a flood of small outputs is lost (eg_harness.load.bench_flood), as figures.

Also runnable as `python -m eg_harness.cli.flood`; the nox session `bench-flood` runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from eg_harness.cli.common import sigterm_as_interrupt
from eg_harness.errors import EXIT_OK, ConfigError, HarnessError
from eg_harness.kernel.framing import LEGACY, V1
from eg_harness.load import bench_flood
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import TargetSpec, make_target

PROTOCOLS = {"legacy": LEGACY, "v1": V1}
READERS = {"raw": "raw websocket", "harness": "harness"}


def add_parsers(sub) -> None:
    p = sub.add_parser(
        "bench-flood",
        help="benchmark: a flood of small outputs read at the kernel (raw ZMQ), by a raw "
        "WebSocket client and by the harness's client on each hop; where outputs are lost",
    )
    configure(p)


def configure(p: argparse.ArgumentParser) -> None:
    p.set_defaults(func=cmd_bench_flood)
    p.add_argument("--outputs", type=int, default=10_000, help="lines per flood")
    p.add_argument(
        "--rates",
        default="0,2000,1000,500",
        help="lines/s the kernel is paced at, one flood each; 0 = as fast as it prints",
    )
    p.add_argument("--readers", default="raw,harness", help="raw, harness or both")
    p.add_argument("--protocols", default="legacy,v1", help="legacy, v1 or both")
    p.add_argument("--no-hub", action="store_true", help="the gateway hop only")
    p.add_argument(
        "--no-remote-launch",
        action="store_true",
        help="do not measure the gateway again after a remote-launched kernel",
    )
    p.add_argument(
        "--held-outputs",
        type=int,
        default=3_000,
        help="lines per flood after the remote launch (the gateway relays far slower then)",
    )
    p.add_argument("--held-rates", default="0,200,100", help="paces after the remote launch")
    p.add_argument("--json", default=None, help="also write the figures to this file")


def _list(value: str, choices: dict[str, str], what: str) -> tuple[str, ...]:
    out = []
    for item in (v.strip() for v in value.split(",") if v.strip()):
        if item not in choices:
            raise ConfigError(f"--{what}: {item!r} is not one of {', '.join(choices)}")
        out.append(choices[item])
    if not out:
        raise ConfigError(f"--{what}: name at least one of {', '.join(choices)}")
    return tuple(out)


def _rates(value: str, what: str) -> tuple[int, ...]:
    try:
        rates = tuple(int(r) for r in value.split(",") if r.strip())
    except ValueError as exc:
        raise ConfigError(f"--{what}: whole lines per second, comma-separated ({exc})") from exc
    if not rates or any(r < 0 for r in rates):
        raise ConfigError(f"--{what}: lines per second >= 0 (0 = as fast as the kernel prints)")
    return rates


def settings_from(args) -> bench_flood.Settings:
    rates, held_rates = _rates(args.rates, "rates"), _rates(args.held_rates, "held-rates")
    if args.outputs < 1 or args.held_outputs < 1:
        raise ConfigError("--outputs and --held-outputs must be positive line counts")
    return bench_flood.Settings(
        outputs=args.outputs,
        rates=rates,
        held_outputs=args.held_outputs,
        held_rates=held_rates,
        readers=_list(args.readers, READERS, "readers"),
        protocols=_list(args.protocols, PROTOCOLS, "protocols"),
        hub=not args.no_hub,
        remote_launch=not args.no_remote_launch,
    )


def cmd_bench_flood(args) -> int:
    settings = settings_from(args)
    say = console()
    target = make_target(TargetSpec())  # a local stack of its own
    sigterm_as_interrupt()
    load_before = round(os.getloadavg()[0], 2)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        target.provision(say)
        floods = bench_flood.run(target, settings, progress=say)
    finally:
        target.teardown()
    machine = {
        "cores": os.cpu_count(),
        "load_before": load_before,
        "load_after": round(os.getloadavg()[0], 2),
        "date": date,
    }
    doc = bench_flood.document(floods, machine)
    bench_flood.print_report(doc)
    if args.json:
        Path(args.json).write_text(json.dumps(doc, indent=2))
        print(f"figures: {args.json}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eg-harness bench-flood")
    configure(parser)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"eg-harness bench-flood: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
