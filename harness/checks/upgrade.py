"""The upgrade table: facts of each step -> what survived, what users saw, time to recover,
and why each loss happened (upstream behaviour, with its issue, or a deployment choice).

Pure functions of the facts, so the judgement is unit-tested without a stack. A loss is a
finding, not a failure: the verdict fails a step only when the operator's step could not be
completed, a user never got a working cell back within the bound, or something was orphaned.
"""

from __future__ import annotations

from typing import Any

from eg_harness.report.model import UpgradeStep, UpgradeUser
from eg_harness.runtime.text import first_line

# Upstream behaviour the table cites (REFERENCE: "Upgrades, restarts and faults").
EG_1156 = (
    "upstream: EG shuts every kernel down on SIGTERM and deletes its saved session, even with "
    "session persistence on (jupyter-server/enterprise_gateway#1156)"
)
EG_LOCAL_KERNELS = "upstream: LocalProcessProxy kernels are children of EG and end with it"
EG_953 = (
    "upstream: the gateway-mode user server's WebSocket relay retries 5 times then gives up "
    "silently, leaving the browser's socket open with nothing behind it "
    "(jupyter-server/enterprise_gateway#953)"
)
WS_CLOSED = "upstream: the user server closed the kernel's WebSocket when the gateway went away"
PERSISTENCE_OFF = (
    "deployment choice: session persistence off (EG_KERNEL_SESSION_PERSISTENCE; the chart's "
    "default) — though on a SIGTERM it would not have helped (#1156)"
)
CLEANUP_SERVERS = (
    "deployment choice: JupyterHub.cleanup_servers=True stops every user server with the hub "
    "(z2jh sets False)"
)
EG_1086 = (
    "upstream: kernel pods outlive the gateway pod that launched them and the new gateway does "
    "not know them (jupyter-server/enterprise_gateway#1086)"
)
SERVER_RESTART = "the step itself: each user's server is replaced by one on B"
SERVER_STOP = (
    "by design: a user server that stops shuts its kernels down on the gateway "
    "(jupyter_server's shutdown of its kernel manager)"
)


# The facts are the results model's own records: gathered by journey.py, judged here, written
# as they are into results.json.
StepFacts = UpgradeStep
UserFacts = UpgradeUser


def totals(f: StepFacts) -> dict[str, int]:
    return {
        "servers": sum(u.server_kept for u in f.per_user),
        "routes": sum(u.route_kept for u in f.per_user),
        "kernels": sum(u.kernels_kept for u in f.per_user),
        "state": sum(u.state_kept for u in f.per_user),
        "websockets": sum(u.websockets_kept for u in f.per_user),
    }


def why(f: StepFacts) -> list[str]:
    """Each loss of the step with its cause: upstream (cited) or a deployment choice."""
    if f.step_error is not None:
        return []
    t = totals(f)
    out: list[str] = []
    lost_kernels = t["kernels"] < f.kernels
    lost_ws = t["websockets"] < f.websockets
    if f.step.startswith("gateway"):
        if lost_kernels:
            out.append(EG_1156)
            if f.step != "gateway-chart":  # the chart's kernels are pods, not EG's children
                out.append(EG_LOCAL_KERNELS)
            if not f.persistence:
                out.append(PERSISTENCE_OFF)
        if lost_ws:
            ends = {u.websocket_end for u in f.per_user if u.websocket_end}
            if any(e and "silent" in e for e in ends):
                out.append(EG_953)
            if any(e and "silent" not in e for e in ends):
                out.append(WS_CLOSED)
        if any(o.startswith("kernel pod") for o in f.orphans):
            out.append(EG_1086)
    elif f.step == "hub":
        if t["servers"] < f.users and f.cleanup_servers:
            out.append(CLEANUP_SERVERS)
        if (lost_kernels or lost_ws) and f.cleanup_servers:
            out.append(SERVER_STOP)
    elif f.step == "user-servers":
        if t["servers"] < f.users:
            out.append(SERVER_RESTART)
        if lost_kernels or lost_ws:
            out.append(SERVER_STOP)
    return out


def problems(f: StepFacts, recover_timeout: float) -> list[str]:
    """What fails the step: not finished, a user left without a working cell, orphans."""
    if f.step_error is not None:
        return [f"the {f.step} step could not be completed: {f.step_error}"]
    out = []
    for u in f.per_user:
        if u.recovered_s is None:
            seen = "; ".join(u.errors[:3]) or "no error, no answer"
            out.append(
                f"{u.user} had no working cell within {recover_timeout:.0f}s after the "
                f"{f.step} step (saw: {seen})"
            )
    if f.orphans or f.outlived:
        out.append(f"left orphaned by the {f.step} step: {', '.join(f.outlived + f.orphans)}")
    return out


def _frac(kept: int, of: int) -> str:
    return f"{kept}/{of}" if of else "-"


def _server_versions(f: StepFacts) -> str:
    found = sorted({u.server_version for u in f.per_user if u.server_version})
    return f" (jupyter_server {', '.join(found)})" if found else ""


def _seconds(values: list[float | None]) -> str:
    if any(v is None for v in values):
        return "never (within the bound)"
    worst = max((v for v in values if v is not None), default=0.0)
    return "not interrupted" if worst == 0 else f"{worst:.1f}s"


def gateway_downtime(f: StepFacts) -> str:
    """The poller's view of the gateway through the step (eg_harness.upgrade.poller)."""
    if f.gateway_downtime_s is None:
        return "-"
    polls = f"{f.gateway_polls_failed}/{f.gateway_polls} polls unanswered"
    if not f.gateway_polls_failed:
        return f"none ({polls})"
    return f"{f.gateway_downtime_s:.1f}s longest ({polls}: {', '.join(f.gateway_poll_errors)})"


def orphaned_kernel_pods(pods: list, known: set[str]) -> list[str]:
    """Kernel pods (EG's `kernel_id` label) that are not being deleted and whose kernel the
    gateway does not know: what EG #1086 leaves behind a gateway pod's restart."""
    out = []
    for pod in pods:
        meta = pod.metadata
        kid = (meta.labels or {}).get("kernel_id")
        if not kid or kid in known or meta.deletion_timestamp is not None:
            continue
        phase = pod.status.phase if pod.status else "?"
        out.append(f"kernel pod {meta.namespace}/{meta.name} ({phase}) unknown to the gateway")
    return out


def user_saw(f: StepFacts) -> str:
    if f.step_error is not None:
        return "the upgrade stopped here"
    errors: list[str] = []
    for u in f.per_user:
        for e in u.errors:
            if e not in errors:
                errors.append(e)
    ends = {u.websocket_end for u in f.per_user if u.websocket_end}
    parts = errors[:4] + [f"streaming cell: {e}" for e in sorted(ends)]
    return "; ".join(parts) or "nothing"


COLUMNS = [
    "step",
    "operator action",
    "versions after",
    "user servers",
    "proxy routes",
    "kernels",
    "kernel state",
    "open WebSockets",
    "what users saw",
    "time to a working cell",
    "gateway downtime (poller)",
    "orphaned",
    "why (upstream or deployment choice)",
]


def row(f: StepFacts) -> list[str]:
    t = totals(f)
    if f.step_error is not None:
        return [
            f.step,
            f.action,
            f.to_versions,
            *["-"] * 5,
            user_saw(f),
            "-",
            gateway_downtime(f),
            "-",
            f"FAILED: {first_line(f.step_error, 300)}",
        ]
    return [
        f.step,
        f.action,
        f.to_versions,
        _frac(t["servers"], f.users) + _server_versions(f),
        _frac(t["routes"], f.users),
        _frac(t["kernels"], f.kernels),
        _frac(t["state"], f.kernels),
        _frac(t["websockets"], f.websockets),
        user_saw(f),
        _seconds([u.recovered_s for u in f.per_user]),
        gateway_downtime(f),
        ", ".join(f.outlived + f.orphans) or "nothing",
        "; ".join(why(f)) or "-",
    ]


NOTE = (
    "Survived = still there after the step (user server: the same server, not a new one; "
    "kernel state: the marker set before the step is still defined; open WebSocket: a cell "
    "streaming output before the step still streams to the same socket after it). Versions "
    "after: what the deployment runs for new servers; a running user server keeps its own "
    "jupyter_server (shown beside the count) until it restarts. Time to a working cell: from "
    "the operator's first action until each user's cell ran again, on the kernel they had or, "
    "when that failed, on a new one; the worst user is shown. Gateway downtime: GET /api on a "
    "fresh connection every 0.25 s through the step, the longest stretch from an unanswered "
    "poll to the next answered one."
)


def view(upgrade: Any) -> dict[str, Any]:
    """What report.html and summary.md show of a results document's `upgrade` section."""
    steps = list(upgrade.steps)
    keys = sorted(set(upgrade.from_versions) | set(upgrade.to_versions))
    return {
        "versions": [
            [k, upgrade.from_versions.get(k, "-"), upgrade.to_versions.get(k, "-")] for k in keys
        ],
        "columns": COLUMNS,
        "rows": [row(f) for f in steps],
        "problems": [p for f in steps for p in problems(f, upgrade.recover_timeout_s)],
        "note": NOTE,
        "suites": upgrade.suites_on_b,
        "suites_summary": upgrade.suites_on_b_summary,
        "suites_exit": upgrade.suites_on_b_exit,
    }
