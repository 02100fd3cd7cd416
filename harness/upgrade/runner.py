"""`eg-harness upgrade` end to end: stand up A, run the journey, run the suites on the
upgraded stack, tear down, and write one results document with the upgrade table.

The suites run against the upgraded stack itself (not a fresh B): it is described to a child
`eg-harness run --target existing` by a YAML whose tokens are `${VAR}` references filled from
the child's environment, so no token is ever written to disk. What needs the local target's
process view skips there with its reason; everything else meets the migrated database, the
restarted gateway and the user servers as users would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from eg_harness.checks import upgrade as table
from eg_harness.report import writer
from eg_harness.report.model import Results, Upgrade
from eg_harness.runtime import secrets
from eg_harness.runtime.text import clip
from eg_harness.runtime.timing import recorder
from eg_harness.targets.base import Target
from eg_harness.targets.spec import TargetSpec
from eg_harness.upgrade.journey import Plan
from eg_harness.upgrade.journey import Upgrade as Journey

QUICK_SUITES = "auth,startup"


def existing_config(target: Target) -> dict[str, Any]:
    """The upgraded stack as an existing target (tokens as ${VAR} references)."""
    gw, hub = target.gateway, target.hub
    assert gw is not None and hub is not None
    doc: dict[str, Any] = {
        "gateway": {
            "url": gw.url,
            "auth_token": "${EGH_UPGRADED_GATEWAY_TOKEN}",
            "kernelspec": gw.kernelspec or "python3",
            "launch_timeout": int(gw.launch_timeout),
            "list_kernels": True,
        },
        "hub": {
            "url": hub.url,
            "api_token": "${EGH_UPGRADED_HUB_TOKEN}",
            "profile": hub.profile,
            "user_prefix": "egh-b-",
        },
        "allow_destructive": True,
        "unauthorized_users": list(gw.unauthorized_users),
    }
    if target.spark is not None:
        sp = target.spark
        doc["spark"] = {
            "kernelspec": sp.kernelspec,
            "launch_timeout": int(sp.launch_timeout),
            "choices": [
                {"memory": c.memory, "cpus": c.cpus, "user_options": c.user_options}
                for c in sp.choices
            ],
            "free_memory_option": sp.free_memory_option,
            "oversize_memory": sp.oversize_memory,
            "local_mode": sp.local_mode,
        }
    return doc


def run_suites_on(target: Target, suites: str, report_dir: Path, run_id: str, say) -> dict:
    """The suites against the live (upgraded) stack, in a child run; its counts and exit."""
    report_dir.mkdir(parents=True, exist_ok=True)
    cfg = report_dir / "upgraded-stack.yaml"
    cfg.write_text(yaml.safe_dump(existing_config(target), sort_keys=False))
    env = dict(os.environ)
    env["EGH_UPGRADED_GATEWAY_TOKEN"] = target.gateway.token or ""
    env["EGH_UPGRADED_HUB_TOKEN"] = target.hub.api_token
    say(f"running suites {suites} on the upgraded stack (report in {report_dir})")
    on_b = TargetSpec(
        kind="existing", config_path=str(cfg), run_id=f"{run_id}-on-b", report_dir=report_dir
    )
    argv = [sys.executable, "-m", "eg_harness", "run", "--suite", suites, *on_b.to_args()]
    argv += ["--", "-m", "not stress", "-q"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    (report_dir / "console.txt").write_text(secrets.redact(proc.stdout + proc.stderr))
    summary = None
    with_results = report_dir / "results.json"
    if with_results.exists():
        s = json.loads(with_results.read_text())["summary"]
        summary = {k: v for k, v in s.items() if isinstance(v, int) and (v or k == "total")}
    return {"exit": proc.returncode, "summary": summary}


def upgrade(
    target: Target,
    plan: Plan,
    *,
    suites: str | None,
    report_dir: Path,
    run_id: str,
    progress=print,
) -> Results:
    """The whole upgrade; the target is provisioned at `plan.origin` here and torn down."""
    started = time.time()
    target.diagnostics_dir = report_dir / "diagnostics"
    steps: list[table.StepFacts] = []
    suites_out: dict | None = None
    journey = None
    broke: str | None = None
    try:
        target.provision(progress)
        journey = Journey(target, plan, progress)
        try:
            steps = journey.run()
        except Exception as exc:  # noqa: BLE001 - reported as the journey's failure below
            broke = f"{type(exc).__name__}: {clip(secrets.redact(str(exc)), 1500)}"
        finally:
            journey.close()
        ok = all(f.step_error is None for f in steps)
        if suites and ok:
            suites_out = run_suites_on(target, suites, report_dir / "suites-on-b", run_id, progress)
    finally:
        cleanup = target.teardown()
    tests = []
    for f in steps:
        bad = table.problems(f, plan.recover_timeout)
        tests.append(
            {
                "nodeid": f"upgrade::{f.step}",
                "suite": "upgrade",
                "name": f.step,
                "outcome": "failed" if bad else "passed",
                "message": "\n".join(bad) or None,
                "duration_s": round(f.operator_s, 3),
                "doc": f.action,
            }
        )
    if broke is not None:
        tests.append(
            {
                "nodeid": "upgrade::journey",
                "suite": "upgrade",
                "name": "journey",
                "outcome": "error",
                "message": f"the upgrade journey broke off: {broke}",
            }
        )
    if suites_out is not None:
        tests.append(
            {
                "nodeid": "upgrade::suites on B",
                "suite": "upgrade",
                "name": "suites on B",
                "outcome": "passed" if suites_out["exit"] == 0 else "failed",
                "message": None
                if suites_out["exit"] == 0
                else f"the suites on the upgraded stack exited {suites_out['exit']}: see "
                "suites-on-b/report.html",
            }
        )
    diag = report_dir / "diagnostics"
    results = Results.produced(
        "upgrade",
        run_id=run_id,
        started=started,
        command=["eg-harness", *sys.argv[1:]],
        target=target.describe(),
        cleanup=cleanup,
        tests=tests,
        spans=[s.to_dict() for s in recorder.spans()],
        upgrade=Upgrade(
            from_versions=plan.origin.as_dict(),
            to_versions=plan.dest.as_dict(),
            recover_timeout_s=plan.recover_timeout,
            steps=steps,
            suites_on_b="suites-on-b/report.html" if suites_out else None,
            suites_on_b_summary=(suites_out or {}).get("summary"),
            suites_on_b_exit=(suites_out or {}).get("exit"),
        ),
        diagnostics=sorted(f"diagnostics/{p.name}" for p in diag.iterdir())
        if diag.is_dir()
        else [],
    )
    writer.write_report(report_dir, results, redact=secrets.redact, latest_name="latest-upgrade")
    return results


def print_table(results: Results) -> None:
    """The figures on the console: one block per step (the table is too wide for a terminal)."""
    assert results.upgrade is not None
    v = table.view(results.upgrade)
    print()
    print("Upgrade: " + ", ".join(f"{k} {a} -> {b}" for k, a, b in v["versions"] if a != b))
    for r in v["rows"]:
        print()
        for col, cell in zip(v["columns"], r, strict=True):
            print(f"  {col:>38}: {cell}")
    if v["suites"]:
        print(f"\nsuites on B: {v['suites_summary']} (exit {v['suites_exit']})")
    for p in v["problems"]:
        print(f"FAILED: {p}")
