"""Verdicts on what Kubernetes' everyday pod deletions did to live kernels (pure).

Three deletions an operator meets without doing anything wrong: a kernel pod deleted (an
eviction, a node drain, `kubectl delete pod`), the gateway's pod deleted (a rolling restart of
EG's Deployment) and a user's single-user pod deleted (KubeSpawner's pod gone while its kernels
live on the gateway). The scenarios gather facts (what the gateway answers per kernel, which
pods carry each kernel's label, what the user's channels showed); these functions say what must
hold and, when it does not, name the kernels and pods and the fix. What the cleanup of the
right is (the gateway's `delete pods`) comes from a SubjectAccessReview, so a leftover is told
with its cause where the cluster can say it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# A kernel the gateway dropped has its pod deleted by EG in the same call; the API server and
# kubelet need a moment more. A bound for "left behind", not a measurement.
POD_SETTLE_S = 30.0


@dataclass(frozen=True)
class KernelPods:
    """One kernel after a fault: what the gateway answers for it and which pods carry it."""

    kernel_id: str
    gateway_status: int  # 200: the gateway knows it; 404: the gateway dropped it
    pods: tuple[str, ...] = ()  # namespace/name of pods labelled kernel_id=<id> after settling


def orphans(kernels: list[KernelPods]) -> list[KernelPods]:
    """Kernels the gateway no longer knows whose pods still run: nobody will delete them (a
    gateway that forgot a kernel never comes back for its pod, EG #1086)."""
    return [k for k in kernels if k.gateway_status == 404 and k.pods]


def pod_names(kernels: list[KernelPods]) -> list[str]:
    return [p for k in kernels for p in k.pods]


def orphan_failure(what: str, kernels: list[KernelPods], fix: str) -> str | None:
    """The failure naming every orphaned pod and its kernel, with the fix; None without orphans."""
    left = orphans(kernels)
    if not left:
        return None
    named = "; ".join(f"{', '.join(k.pods)} (kernel {k.kernel_id})" for k in left)
    return (
        f"{what} left {len(pod_names(left))} kernel pod(s) that the gateway no longer knows: "
        f"{named}. Nothing deletes them: they hold their requests until someone does. Fix: {fix}"
    )


def cleanup_cause(may_delete_pods: bool | None, may_delete_namespaces: bool | None) -> str:
    """Why EG could not delete a shut-down kernel's pod, from the API server's own answer on the
    gateway's service account ('' when it may do both or the harness could not ask)."""
    lacking = [
        right
        for right, allowed in (("pods", may_delete_pods), ("namespaces", may_delete_namespaces))
        if allowed is False
    ]
    if not lacking:
        return ""
    return (
        f"the gateway's service account may not delete {' or '.join(lacking)} (its ClusterRole "
        "lacks `delete`): EG's shutdown asks the API server to delete the kernel's pod and "
        "namespace, is refused and only logs it. Fix: give the gateway's ClusterRole `delete` "
        f"on {' and '.join(lacking)} (the chart's enterprise-gateway-controller)"
    )


@dataclass(frozen=True)
class KernelPodDeleted:
    """A live kernel whose pod was deleted, as the user and the gateway saw it."""

    kernel_id: str
    pod: str  # the deleted pod, namespace/name
    user_saw: str  # the iopub statuses on the user's open channels, or what ended them
    noticed_s: float | None  # deletion -> the gateway's first sign (a status, a new pod, a 404)
    gateway_status: int  # 200 or 404 once it settled
    new_pod: str | None  # the kernel's pod after the restart, if EG made one
    usable_after: bool | None  # an execute on freshly opened channels answered
    state_kept: bool | None  # a variable set before the deletion was still defined
    pods_after_shutdown: tuple[str, ...] = field(default_factory=tuple)


def kernel_pod_deleted_problems(facts: KernelPodDeleted) -> list[str]:
    """What must hold after a kernel's pod is deleted: the gateway either restarts the kernel
    (a new pod that runs code once the user reconnects) or drops it (404), never lists a
    kernel that cannot run code; and shutting it down leaves no pod."""
    problems = []
    k = facts.kernel_id
    if facts.gateway_status == 200:
        if facts.noticed_s is None:
            problems.append(
                f"the gateway still lists kernel {k} after its pod {facts.pod} was deleted and "
                "showed no sign of noticing (no restarting/dead status, no new pod)"
            )
        elif not facts.usable_after:
            problems.append(
                f"the gateway lists kernel {k} (200) but it answers no execute after its pod "
                f"{facts.pod} was deleted (new pod: {facts.new_pod or 'none'}): a kernel the "
                "user cannot use and cannot replace without deleting it"
            )
    elif facts.new_pod:
        problems.append(
            f"the gateway dropped kernel {k} (404) but its new pod {facts.new_pod} runs: an "
            "orphan pod"
        )
    problems += [
        f"pod {p} of kernel {k} is still there after shutdown: an orphan pod"
        for p in facts.pods_after_shutdown
    ]
    return problems


@dataclass(frozen=True)
class UserPodDeleted:
    """A user's single-user pod deleted while its kernels ran on the gateway."""

    user: str
    pod: str
    grace_s: float | None  # the pod's terminationGracePeriodSeconds
    pod_gone_s: float  # deletion -> the pod no longer exists
    watched_s: float  # how long the gateway was watched after the deletion
    kernels: dict[str, float | None]  # kernel id -> seconds until the gateway answered 404
    hub_noticed_s: float | None = None  # deletion -> the hub reports no server


def kernels_left(facts: UserPodDeleted, settle: float = 5.0) -> dict[str, float | None]:
    """Kernels still on the gateway after the pod was gone (plus `settle`): None = to the end."""
    limit = facts.pod_gone_s + settle
    return {k: s for k, s in facts.kernels.items() if s is None or s > limit}


def user_pod_failure(facts: UserPodDeleted, culling: str) -> str | None:
    """The failure naming the kernels that outlived their user's deleted pod, with the fix; None
    when the user server shut them all down before its pod was gone."""
    left = kernels_left(facts)
    if not left:
        return None
    fates = ", ".join(
        f"{k} ("
        + (f"still running {facts.watched_s:.0f}s later" if s is None else f"gone after {s:.0f}s")
        + ")"
        for k, s in left.items()
    )
    grace = f"{facts.grace_s:g}s" if facts.grace_s is not None else "unknown"
    return (
        f"{len(left)} kernel(s) outlived {facts.user}'s deleted pod {facts.pod} on the gateway: "
        f"{fates}; the pod was gone {facts.pod_gone_s:.1f}s after the delete (grace period "
        f"{grace}). The user cannot reach them (a new server does not adopt them) and they hold "
        "their pods. Fix: a grace period long enough for jupyter_server to delete its gateway "
        "kernels on SIGTERM (KubeSpawner's delete_grace_period, z2jh singleuser "
        "terminationGracePeriodSeconds), and a gateway culler that reaps what a killed server "
        f"leaves ({culling})"
    )
