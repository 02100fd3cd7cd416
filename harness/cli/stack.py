"""The local stack by hand: `up`, `down`, `setup`, and the faults it can seed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from pathlib import Path

from eg_harness import resources
from eg_harness.cli.common import sigterm_as_interrupt
from eg_harness.errors import EXIT_FAILED, EXIT_OK, ConfigError
from eg_harness.runtime import processes
from eg_harness.runtime.progress import console
from eg_harness.targets.spec import TargetSpec, make_target


def add_parsers(sub) -> None:
    up = sub.add_parser(
        "up",
        help="start the local stack (or keep a node cluster for later runs) until Ctrl-C or "
        "`eg-harness down`",
        description="--target local (default): the local stack for hands-on work; node: a node "
        "cluster that `eg-harness run --target node` attaches to (no bring-up per run; each run "
        "seeds its faults on it and reverts them), until Ctrl-C or `eg-harness down`",
    )
    up.set_defaults(func=cmd_up)
    TargetSpec.add_arguments(up, "kind", kinds=("local", "node"))
    TargetSpec.add_arguments(up, "faults", "z2jh_chart")
    up.add_argument("--state-file", default=None, help="where to write URLs and tokens (0600)")
    down = sub.add_parser(
        "down",
        help="stop a local stack left by `up` or a killed run, and kind clusters of killed runs",
    )
    down.set_defaults(func=cmd_down)
    down.add_argument(
        "--run",
        default=None,
        metavar="RUN_ID",
        help="only what this run left (its `up` stack, its orphans, its kind cluster); other "
        "runs' stacks keep running",
    )
    setup = sub.add_parser(
        "setup", help="create the local target's component environments (cached)"
    )
    setup.set_defaults(func=cmd_setup)
    faults = sub.add_parser("faults", help="list the faults the local target can seed")
    faults.set_defaults(func=cmd_faults)
    faults.add_argument(
        "--markdown", action="store_true", help="print the README's table of seeded faults"
    )


def _state_dir() -> Path:
    from eg_harness.runtime.envs import cache_dir

    path = cache_dir() / "up"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cmd_up(args) -> int:
    if args.target != "local":
        return cmd_up_kept(args)
    target = make_target(TargetSpec.from_args(args))
    sigterm_as_interrupt()
    # One registry file per stack, so `down` finds every stack; --state-file is an extra copy.
    registry = _state_dir() / f"{target.run_id}.json"
    state_files = [registry] + ([Path(args.state_file)] if args.state_file else [])
    try:
        target.provision(console())
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


def cmd_up_kept(args) -> int:
    """A target that can keep its deployment (KeptDeployment): provision, keep, and tear down
    on Ctrl-C or SIGTERM (`eg-harness down` sends it, as to a local `up`)."""
    from eg_harness.targets.abilities import KeptDeployment

    target = make_target(TargetSpec.from_args(args))
    keeper = target.ability(KeptDeployment)
    if keeper is None:
        raise ConfigError(f"--target {args.target}: {KeptDeployment.missing}")
    sigterm_as_interrupt()
    registry = _state_dir() / f"{target.run_id}.json"
    left: dict = {}
    try:
        target.provision(console())
        record = keeper.keep()
        doc = {"run_id": target.run_id, "owner_pid": os.getpid(), "kept": str(record)}
        fd = os.open(registry, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(doc, fh, indent=2)
        print(f"{args.target} target kept (run {target.run_id}); record {record} (mode 0600)")
        print(f"gateway: {target.gateway.url}" if target.gateway else "gateway: none")
        print(
            f"`eg-harness run --target {args.target}` attaches to it; Ctrl-C or `eg-harness "
            "down` tears it down",
            flush=True,
        )
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        left = target.teardown()
        registry.unlink(missing_ok=True)
    if any(left.values()):
        print(f"eg-harness: left behind: {left}", file=sys.stderr)
        return EXIT_FAILED
    print("torn down; nothing left behind", flush=True)
    return EXIT_OK


def cmd_down(args) -> int:
    stopped = 0
    only = getattr(args, "run", None)
    for state_file in sorted(_state_dir().glob("*.json")):
        try:
            doc = json.loads(state_file.read_text())
        except (OSError, ValueError):
            if only is None:
                state_file.unlink(missing_ok=True)
            continue
        if only is not None and doc.get("run_id") != only:
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
    # Node clusters first: their state dirs may sit in run dirs the orphan sweep deletes,
    # and their mounts must go before anything under them is removed.
    from eg_harness.targets.node import state as node_state

    removed, failed = node_state.sweep(console(), only)
    stopped += removed
    if failed:
        print(
            f"eg-harness: could not remove node cluster leftovers: {'; '.join(failed)}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    for line in processes.sweep_orphans(only):
        print(f"stopped orphans of run {line}")
        stopped += 1
    from eg_harness.targets.kind import state as kind_state

    removed, failed = kind_state.sweep(console(), only)
    stopped += removed
    if failed:
        print(f"eg-harness: could not remove kind leftovers: {'; '.join(failed)}", file=sys.stderr)
        return EXIT_FAILED
    print("nothing was running" if not stopped else "stopped")
    return EXIT_OK


def cmd_setup(args) -> int:
    from eg_harness.runtime import envs

    say = console()
    for name in ("gateway", "hub"):
        env = envs.ensure_python_env(name, resources.LOCAL_CLUSTER / f"{name}.lock", say)
        say(f"{name} environment: {env.path}")
        if name == "gateway":
            from eg_harness.targets.local import spark_cds

            spark_cds.ensure(env, say)
    proxy = envs.ensure_proxy(say)
    say(f"proxy: configurable-http-proxy {proxy.version} ({proxy.kind})")
    return EXIT_OK


def cmd_faults(args) -> int:
    from eg_harness.targets import faults

    print(faults.markdown_table() if args.markdown else faults.plain_listing())
    return EXIT_OK
