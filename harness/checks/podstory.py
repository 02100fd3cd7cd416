"""What a kernel's pod did, told in one paragraph: for a start that failed or hangs on a cluster.

EG 3.3 treats only a pod in an error state as a failed start: a kernel pod whose container
exits (bootstrap-kernel.sh cannot find python, exits 0, the pod is Succeeded within a second)
leaves EG waiting its whole launch timeout, then answering "Waited too long (60.0s) to get
connection file", which names nothing of the pod. The harness reads the pod while the start is
pending (eg_harness.k8s.podwatch) and says what it did: phase, each container's state and exit
code, the last lines of its log, its events. Pure functions of the kubernetes client's models.
"""

from __future__ import annotations

from collections.abc import Sequence

from eg_harness.checks.layers import event_time
from eg_harness.checks.pods import pod_ref

ENDED_PHASES = ("Succeeded", "Failed")
# A container that waits for one of these will not start without someone changing something.
STUCK_REASONS = ("CreateContainerConfigError", "CreateContainerError", "RunContainerError")
LOG_LINES = 8


def _statuses(pod) -> list:
    status = pod.status
    if status is None:
        return []
    return list(status.init_container_statuses or []) + list(status.container_statuses or [])


def pod_ended(pod) -> bool:
    """The pod will never run the kernel: its phase ended, a container terminated (kernel pods
    never restart), or a container is stuck in a configuration error."""
    phase = pod.status.phase if pod.status else None
    if phase in ENDED_PHASES:
        return True
    for cs in _statuses(pod):
        state = cs.state
        if state is None:
            continue
        if state.terminated is not None:
            return True
        if state.waiting is not None and state.waiting.reason in STUCK_REASONS:
            return True
    return False


def container_states(pod) -> list[str]:
    """Each container's state: 'kernel: exited 0 (Completed)', 'kernel: waiting (...)'."""
    out = []
    for cs in _statuses(pod):
        state = cs.state
        if state is None:
            out.append(f"{cs.name}: no state")
        elif state.terminated is not None:
            t = state.terminated
            said = f": {t.message.strip()}" if t.message else ""
            out.append(f"{cs.name}: exited {t.exit_code} ({t.reason or 'no reason'}){said}")
        elif state.waiting is not None:
            w = state.waiting
            said = f": {w.message.strip()}" if w.message else ""
            out.append(f"{cs.name}: waiting ({w.reason or 'no reason'}){said}")
        elif state.running is not None:
            out.append(f"{cs.name}: running since {state.running.started_at}")
    return out


def events_line(events: Sequence) -> str:
    """The pod's events in order, as `Reason: message`."""
    parts = []
    for ev in events:
        when = event_time(ev)
        stamp = when.strftime("%H:%M:%S") if when else "?"
        parts.append(f"{stamp} {ev.reason}: {(ev.message or '').strip()}")
    return "; ".join(parts) if parts else "(no events)"


def pod_story(pod, events: Sequence, log_tail: str | None) -> str:
    """One paragraph: where the pod is, its phase, its containers, its log's end, its events."""
    phase = (pod.status.phase if pod.status else None) or "no phase"
    states = container_states(pod)
    text = f"pod {pod_ref(pod)} is {phase}"
    if states:
        text += " (" + "; ".join(states) + ")"
    lines = [line for line in (log_tail or "").splitlines() if line.strip()][-LOG_LINES:]
    text += "; its log ends: " + " | ".join(lines) if lines else "; its log is empty"
    return text + "; events: " + events_line(events)


def no_pod_story(namespace: str, service_account: str | None, may_create: bool | None) -> str:
    """Why there is no pod: the gateway's right to create one, as the API server answers."""
    if service_account is None:
        return f"no kernel pod was created (in {namespace} or anywhere the harness can list)"
    who = f"the gateway's service account {service_account}"
    if may_create is False:
        return (
            f"no kernel pod was created: RBAC denies it, {who} may not create pods in "
            f"{namespace} (SubjectAccessReview: not allowed); give its ClusterRole the "
            "'create' verb on pods, as EG's chart does"
        )
    if may_create is True:
        return f"no kernel pod was created, though {who} may create pods in {namespace}"
    return f"no kernel pod was created (whether {who} may create pods could not be asked)"
