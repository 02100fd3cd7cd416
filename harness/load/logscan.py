"""Known failure signatures in a component log, and what each means for a user under load.

A bench's figures say that starts failed or hung; the gateway's log often says why, in words
an operator would not know to search for. Each signature is counted and tabled with its meaning.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

PORT_RACE = "Address already in use"

LOG_SIGNATURES = (
    (
        PORT_RACE,
        "a kernel died binding a port another process took first (the port race of local "
        "launches); EG had already answered 201, and its restarter relaunches the kernel on the "
        "same ports, so it never recovers",
    ),
    (
        "Timeout waiting for kernel_info reply",
        "a client's WebSocket waited for a kernel that never answered (60 s in EG 3.3)",
    ),
    (
        "object has no attribute 'last_activity'",
        "a start under a kernel limit failed with 500 while another kernel was starting",
    ),
    ("Waited too long", "a remote kernel did not report its ports within the launch timeout"),
    (
        "ZMQError: Too many open files",
        "the gateway ran out of ZMQ sockets (libzmq's 1,024 per context, not the process's file "
        "limit): every further WebSocket or kernel fails until some close",
    ),
)


def log_findings(log: Path) -> list[list[Any]]:
    """[signature, count, meaning] for each known signature found in a component log."""
    if not log.is_file():
        return []
    text = log.read_text(errors="replace")
    return [[sig, text.count(sig), meaning] for sig, meaning in LOG_SIGNATURES if sig in text]


def died_in_port_race(log: Path, kernel_id: str) -> bool:
    """True when a local gateway's log shows this kernel relaunched by the restarter and a
    kernel failing to bind its port: EG's port race (REFERENCE: EG 3.3 picks a local kernel's
    five ports, releases them and launches; `write_connection_file` sets them before
    jupyter_client records which ports were random, so the restarter's "new random ports"
    changes nothing and every relaunch binds the same taken port). The kernel's own traceback
    does not name its id, so a relaunch of this id beside the signature is the evidence."""
    if not log.is_file():
        return False
    text = log.read_text(errors="replace")
    return PORT_RACE in text and text.count(f"KernelID: {kernel_id}") > 1


def port_race_journeys(events: list[dict[str, Any]], log: Path) -> dict[str, str]:
    """{journey: kernel id} for each journey that failed on a kernel the gateway's log shows
    dying in EG's port race (died_in_port_race). A bench counts these apart, with their cause:
    a known upstream defect of local launches (concurrent starts draw the same port from
    EG_PORT_RANGE; a Kubernetes kernel binds its own ports in its own pod), not a failure of
    the deployment's figures. A failed journey without a kernel id, or whose kernel the log
    does not show relaunched beside the bind failure, stays a failure."""
    if not log.is_file():
        return {}
    failed = {e["journey"] for e in events if not e.get("ok", True)}
    kernels = {e["journey"]: e["kernel_id"] for e in events if e.get("kernel_id")}
    return {
        j: kernels[j] for j in sorted(failed) if j in kernels and died_in_port_race(log, kernels[j])
    }
