"""`eg-harness`: run the suites against a target, or keep a local stack up for hands-on work.

Exit codes a CI can branch on: 0 all passed, 1 a scenario failed (bench: errors; gate: a
regression), 2 usage or configuration error, 3 the target could not be provisioned or reached,
4 measurements invalid (the load generator was the bottleneck), 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

from eg_harness import resources
from eg_harness.errors import ConfigError, HarnessError
from eg_harness.runtime import processes, secrets

SCENARIOS = resources.SCENARIOS
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TARGET, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
EXIT_INVALID = 4


def suites() -> list[str]:
    return sorted(p.name for p in SCENARIOS.iterdir() if p.is_dir() and any(p.glob("test_*.py")))


def _sigterm_as_interrupt() -> None:
    """CI runners stop jobs with SIGTERM; treat it like Ctrl-C so teardown still runs.

    SIGINT is installed too: a shell starts background jobs with SIGINT ignored, and Python then
    leaves it ignored, so `eg-harness up &` would otherwise shrug off Ctrl-C and `kill -INT`.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="eg-harness", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run suites against a target and write a report")
    run.add_argument("--target", choices=["local", "existing"], default="local")
    run.add_argument("--target-config", help="YAML describing an existing deployment")
    run.add_argument("--suite", default="all", help="comma-separated suites, or 'all' (default)")
    run.add_argument("--report-dir", help="where to write the report (default reports/<run-id>)")
    run.add_argument("--run-id", help="run id (default: time-stamped); names the report")
    run.add_argument(
        "--local-fault",
        action="append",
        default=[],
        help="seed a fault into the local target (see `eg-harness faults`)",
    )
    run.add_argument(
        "--allow-destructive",
        action="store_true",
        help="allow scenarios that disturb other users of an existing target",
    )
    run.add_argument(
        "pytest_args",
        nargs=argparse.REMAINDER,
        help="after --: extra pytest arguments (e.g. -k interrupt)",
    )

    up = sub.add_parser("up", help="start the local stack and keep it until Ctrl-C")
    up.add_argument("--local-fault", action="append", default=[])
    up.add_argument("--state-file", default=None, help="where to write URLs and tokens (0600)")
    sub.add_parser("down", help="stop a local stack left running by `up` (or a killed run)")
    sub.add_parser("setup", help="create the local target's component environments (cached)")
    sub.add_parser("faults", help="list the faults the local target can seed")
    bw = sub.add_parser("bench-ws", help="benchmark: harness channels client vs a raw loop")
    bw.add_argument("--rounds", type=int, default=200)
    wt = sub.add_parser("walltime", help="benchmark: warm wall time of suites on the local target")
    wt.add_argument("--suite", default="auth,startup")
    wt.add_argument("--runs", type=int, default=2, help="measured runs after one warm-up")
    sub.add_parser("suites", help="list the suites")
    b = sub.add_parser("bench", help="benchmark: launch storms up a ladder, churn, knee, ceiling")
    b.add_argument("--target", choices=["local", "existing"], default="local")
    b.add_argument("--target-config")
    b.add_argument("--local-fault", action="append", default=[])
    b.add_argument("--ladder", default="1,2,5,10,20", help="concurrency steps, e.g. 1,2,5")
    b.add_argument("--journey", choices=["gateway", "hub"], default="gateway")
    b.add_argument("--kernelspec", default=None)
    b.add_argument("--churn-users", type=int, default=3, help="0 to skip the churn phase")
    b.add_argument("--churn-seconds", type=float, default=30.0)
    b.add_argument("--workers", type=int, default=0, help="locust workers for the churn phase")
    b.add_argument("--run-id", default=None)
    b.add_argument("--report-dir", default=None)
    b.add_argument(
        "--history",
        default="reports/bench-history.jsonl",
        help="JSON lines file each bench appends its figures to ('' for none)",
    )
    bl = sub.add_parser("baseline", help="save a bench's figures as a release-gate baseline")
    bl.add_argument(
        "--from",
        dest="source",
        default="reports/latest-bench",
        help="a bench report dir or results.json (default: the latest bench)",
    )
    bl.add_argument("--out", required=True)
    g = sub.add_parser("gate", help="compare a bench with a baseline; exit 1 on a regression")
    g.add_argument("--baseline", required=True)
    g.add_argument(
        "--current",
        default="reports/latest-bench",
        help="a bench report dir or results.json (default: the latest bench)",
    )
    g.add_argument("--thresholds", default=None, help="YAML with p95_ttfe_max_increase, ...")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return {
            "run": cmd_run,
            "up": cmd_up,
            "down": cmd_down,
            "faults": cmd_faults,
            "suites": cmd_suites,
            "setup": cmd_setup,
            "walltime": cmd_walltime,
            "bench-ws": cmd_bench_ws,
            "bench": cmd_bench,
            "baseline": cmd_baseline,
            "gate": cmd_gate,
        }[args.command](args)
    except HarnessError as exc:
        print(f"eg-harness: {secrets.redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("eg-harness: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _selected_suites(spec: str) -> list[str]:
    known = suites()
    wanted = known if spec.strip() == "all" else [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in known]
    if unknown or not wanted:
        raise ConfigError(
            f"unknown suite {', '.join(unknown) or '(none)'}: choose from {', '.join(known)} "
            "or 'all'"
        )
    return wanted


def cmd_run(args) -> int:
    import pytest

    chosen = _selected_suites(args.suite)
    if args.target == "existing":
        if not args.target_config:
            raise ConfigError(
                "--target existing needs --target-config FILE (see clusters/examples/existing.yaml)"
            )
        from eg_harness.targets.existing.target import ExistingTarget

        # Config and reachability errors end here as one line, before pytest prints anything.
        ExistingTarget(args.target_config).provision(lambda _m: None)
    if args.local_fault:
        from eg_harness.targets.local.target import FAULTS

        bad = [f for f in args.local_fault if f not in FAULTS]
        if bad:
            raise ConfigError(f"unknown local fault {bad[0]!r}: see `eg-harness faults`")
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()
    report_dir = Path(args.report_dir) if args.report_dir else Path.cwd() / "reports" / run_id
    extra = list(args.pytest_args or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    pytest_args = [
        *(str(SCENARIOS / s) for s in chosen),
        f"--rootdir={SCENARIOS.parent}",
        f"--target={args.target}",
        f"--eg-report-dir={report_dir}",
        f"--eg-run-id={run_id}",
        f"--junitxml={report_dir / 'junit.xml'}",
        "-p",
        "no:cacheprovider",
        "-rfEs",
        # The CLI itself lives in the plugin's distribution, so pytest cannot rewrite it.
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",
    ]
    if args.target_config:
        pytest_args.append(f"--target-config={args.target_config}")
    for fault in args.local_fault:
        pytest_args.append(f"--local-fault={fault}")
    if args.allow_destructive:
        pytest_args.append("--allow-destructive")
    pytest_args += extra
    _sigterm_as_interrupt()
    code = int(pytest.main(pytest_args))
    from eg_harness.fixtures import plugin  # after pytest.main, so pytest can assert-rewrite it

    state = plugin.LAST_RUN
    if state is not None and state.target_exit_code is not None:
        return state.target_exit_code
    report = report_dir / "report.html"
    if report.exists():
        latest = report_dir.parent / "latest" / "report.html"
        print(f"report: {latest if latest.exists() else report}")
    if code == 0:
        return EXIT_OK
    if code == 1:
        return EXIT_FAILED
    if code == 2:
        return EXIT_INTERRUPTED
    if code == 5:
        print("eg-harness: the selection ran no scenario", file=sys.stderr)
    return EXIT_USAGE


def _state_dir() -> Path:
    from eg_harness.runtime.envs import cache_dir

    path = cache_dir() / "up"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cmd_up(args) -> int:
    from eg_harness.targets.local.target import LocalTarget

    target = LocalTarget(faults=args.local_fault)
    _sigterm_as_interrupt()
    # One registry file per stack, so `down` finds every stack; --state-file is an extra copy.
    registry = _state_dir() / f"{target.run_id}.json"
    state_files = [registry] + ([Path(args.state_file)] if args.state_file else [])
    try:
        target.provision(lambda m: print(f"[eg-harness] {secrets.redact(m)}", flush=True))
        doc = {
            "run_id": target.run_id,
            "run_dir": str(target.run_dir),
            "owner_pid": os.getpid(),
            "gateway": {"url": target.gateway.url, "auth_token": target.gateway.token},
            "hub": {"url": target.hub.url, "api_token": target.hub.api_token},
            "faults": target.faults,
        }
        for state_file in state_files:
            fd = os.open(state_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                json.dump(doc, fh, indent=2)
        print(f"gateway: {target.gateway.url}")
        print(f"hub:     {target.hub.url}")
        print(f"tokens:  {state_files[-1]} (mode 0600)")
        print("Ctrl-C to stop", flush=True)
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        left = target.teardown()
        for state_file in state_files:
            state_file.unlink(missing_ok=True)
    if any(left.values()):
        print(f"eg-harness: left behind: {left}", file=sys.stderr)
        return EXIT_FAILED
    print("stopped; nothing left behind")
    return EXIT_OK


def cmd_down(args) -> int:
    stopped = 0
    for state_file in sorted(_state_dir().glob("*.json")):
        try:
            doc = json.loads(state_file.read_text())
        except (OSError, ValueError):
            state_file.unlink(missing_ok=True)
            continue
        owner = doc.get("owner_pid")
        if owner and processes.psutil.pid_exists(owner):
            with contextlib.suppress(ProcessLookupError):
                os.kill(owner, signal.SIGTERM)
            processes.wait_gone(owner, 60)
        left = processes.sweep_run(doc["run_id"], doc.get("run_dir"))
        stopped += 1
        state_file.unlink(missing_ok=True)
        if left:
            print(f"eg-harness: could not stop {[p.pid for p in left]}", file=sys.stderr)
            return EXIT_FAILED
    for line in processes.sweep_orphans():
        print(f"stopped orphans of run {line}")
        stopped += 1
    print("nothing was running" if not stopped else "stopped")
    return EXIT_OK


def cmd_setup(args) -> int:
    from eg_harness.runtime import envs

    def say(msg: str) -> None:
        print(f"[eg-harness] {msg}", flush=True)

    for name in ("gateway", "hub"):
        env = envs.ensure_python_env(name, resources.LOCAL_CLUSTER / f"{name}.lock", say)
        say(f"{name} environment: {env.path}")
    proxy = envs.ensure_proxy(say)
    say(f"proxy: configurable-http-proxy {proxy.version} ({proxy.kind})")
    return EXIT_OK


def cmd_walltime(args) -> int:
    """Time whole `run`s in subprocesses; the first run warms caches and is not counted."""
    import subprocess
    import tempfile

    _selected_suites(args.suite)
    rows = []
    with tempfile.TemporaryDirectory(prefix="eg-harness-walltime-") as tmp:
        for i in range(args.runs + 1):
            label = "warm-up" if i == 0 else f"run {i}"
            print(f"[eg-harness] walltime {label}: eg-harness run --suite {args.suite}", flush=True)
            report_dir = Path(tmp) / f"r{i}"
            t0 = time.monotonic()
            proc = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "eg_harness",
                    "run",
                    "--suite",
                    args.suite,
                    "--report-dir",
                    str(report_dir),
                ],
                capture_output=True,
                text=True,
            )
            wall = time.monotonic() - t0
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-1000:], sep="\n")
                raise HarnessError(f"the {label} failed (exit {proc.returncode}): fix it first")
            results = json.loads((report_dir / "results.json").read_text())
            spans = {s["name"]: s for s in results["spans"] if s["name"].startswith("target_")}
            by_suite: dict[str, float] = {}
            for t in results["tests"]:
                by_suite[t["suite"]] = by_suite.get(t["suite"], 0.0) + t["duration_s"]
            rows.append((label, wall, spans, by_suite))
    print()
    print(f"{'run':8} {'wall s':>8} {'provision s':>12} {'teardown s':>11}  per-suite test time s")
    for label, wall, spans, by_suite in rows:
        prov = spans.get("target_provision", {}).get("phases", {}).get("hub_ready", float("nan"))
        down = spans.get("target_teardown", {}).get("phases", {}).get("stopped", float("nan"))
        suites_txt = ", ".join(f"{k} {v:.1f}" for k, v in sorted(by_suite.items()))
        print(f"{label:8} {wall:8.1f} {prov:12.1f} {down:11.1f}  {suites_txt}")
    warm = [wall for label, wall, _s, _b in rows[1:]]
    if warm:
        best = min(warm)
        print(
            f"\nwarm wall time: best {best:.1f}s, mean {sum(warm) / len(warm):.1f}s "
            f"({best / 180:.0%} of the 3-minute aim)"
        )
    return EXIT_OK


def cmd_bench_ws(args) -> int:
    from eg_harness.load import bench_ws
    from eg_harness.targets.local.target import LocalTarget

    def say(msg: str) -> None:
        print(f"[eg-harness] {secrets.redact(msg)}", flush=True)

    target = LocalTarget()
    _sigterm_as_interrupt()
    try:
        target.provision(say)
        res = bench_ws.run(
            target.gateway.url, target.gateway.token, "python3", rounds=args.rounds, progress=say
        )
    finally:
        target.teardown()
    bench_ws.print_report(res)
    return EXIT_OK


def _ladder(text: str) -> list[int]:
    try:
        steps = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        steps = []
    if not steps or any(n < 1 for n in steps) or steps != sorted(set(steps)):
        raise ConfigError(f"--ladder {text!r} must be rising positive integers, e.g. 1,2,5,10")
    return steps


def cmd_bench(args) -> int:
    from eg_harness.load import bench
    from eg_harness.report import writer as report
    from eg_harness.targets import make_target

    settings = bench.BenchSettings(
        ladder=_ladder(args.ladder),
        journey=args.journey,
        kernelspec=args.kernelspec,
        churn_users=max(args.churn_users, 0),
        churn_seconds=args.churn_seconds,
        workers=max(args.workers, 0),
    )
    run_id = args.run_id or time.strftime("%Y%m%d-%H%M%S") + "-" + os.urandom(2).hex()
    options = {"faults": args.local_fault, "run_id": run_id} if args.target == "local" else {}
    target = make_target(args.target, config_path=args.target_config, **options)
    report_dir = Path(args.report_dir) if args.report_dir else Path.cwd() / "reports" / run_id

    def say(msg: str) -> None:
        print(f"[eg-harness] {secrets.redact(msg)}", flush=True)

    if hasattr(target, "diagnostics_dir"):
        target.diagnostics_dir = report_dir / "diagnostics"  # component and kernel logs
    _sigterm_as_interrupt()
    started = time.time()
    try:
        target.provision(say)
        doc = bench.run_bench(target, report_dir / "load", settings, progress=say)
    finally:
        left = target.teardown()
    doc["cleanup"] = left
    doc["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started))
    doc["duration_s"] = round(time.time() - started, 3)
    history_path = Path(args.history) if args.history else None
    if history_path is not None:
        bench.append_history(history_path, doc, run_id)
    history = bench.read_history(history_path) if history_path else []
    results = bench.results_document(doc, run_id, history)
    diag = report_dir / "diagnostics"
    if diag.is_dir():
        results["diagnostics"] = [f"diagnostics/{p.name}" for p in sorted(diag.iterdir())]
        found = bench.log_findings(diag / "gateway.log")
        if found:
            results["tables"].append(
                {
                    "title": "Known failure signatures in the gateway log",
                    "columns": ["signature", "count", "what it means"],
                    "rows": found,
                }
            )
            for sig, count, _meaning in found:
                say(f"gateway log: {count} x {sig!r}")
    # A bench has its own "latest", so `latest` keeps pointing at the last suite run.
    report.write_report(report_dir, results, redact=secrets.redact, latest_name="latest-bench")
    bench.print_bench(doc)
    print(f"report: {report_dir / 'report.html'}")
    if any(left.values()):
        print(f"eg-harness: left behind: {left}", file=sys.stderr)
        return EXIT_FAILED
    if not doc["valid"]:
        return EXIT_INVALID
    if any(s["failed"] for s in [*doc["storms"], *([doc["churn"]] if doc["churn"] else [])]):
        return EXIT_FAILED
    return EXIT_OK


def cmd_baseline(args) -> int:
    from eg_harness.load import gate

    doc = gate.make_baseline(args.source, args.out)
    levels = ", ".join(doc["figures"].get("storms", {})) or "none"
    print(
        f"baseline written to {args.out} (storms: {levels}; churn: "
        f"{'yes' if doc['figures'].get('churn') else 'no'})"
    )
    if not doc["figures"].get("valid", True):
        print("eg-harness: warning: the source bench was marked invalid", file=sys.stderr)
    return EXIT_OK


def cmd_gate(args) -> int:
    from eg_harness.load import gate

    thresholds = gate.load_thresholds(args.thresholds)
    base = gate.read_figures(args.baseline)
    cur = gate.read_figures(args.current)
    for name, figs in (("baseline", base), ("current", cur)):
        if not figs.get("valid", True):
            print(
                f"eg-harness: the {name} bench is invalid (its load generator was the "
                "bottleneck): rerun it with fewer users per process or more --workers",
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
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with contextlib.suppress(OSError), open(summary, "a") as fh:
            fh.write("\n" + gate.markdown(checks, title))
    regressed = [c for c in checks if c.regressed]
    if regressed:
        print(
            f"REGRESSION: {len(regressed)} of {len(checks)} checks: "
            + "; ".join(f"{c.level} {c.figure}" for c in regressed)
        )
        return EXIT_FAILED
    print(f"gate passed: {len(checks)} checks within thresholds")
    return EXIT_OK


def cmd_faults(args) -> int:
    from eg_harness.targets.local.target import FAULTS

    for name, text in sorted(FAULTS.items()):
        print(f"{name:22} {text}")
    return EXIT_OK


def cmd_suites(args) -> int:
    for name in suites():
        print(name)
    return EXIT_OK
