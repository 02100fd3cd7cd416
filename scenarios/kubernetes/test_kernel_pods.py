"""A kernel started through a hub user's server is a pod of that user, where EG puts it, and
nothing of it is left once it is shut down (EG #932: orphan pods).

The user's name is what the hub's profile gives the user server as KERNEL_USERNAME, which the
server copies into every kernel start and EG into the pod (its name and its env); a profile
that forgets it makes every pod EG's own user (EG #661).
"""

from __future__ import annotations

import time

from eg_harness.checks.podfaults import cleanup_cause
from eg_harness.checks.pods import (
    dns_label,
    expected_namespaces,
    identity_problems,
    leftover_problems,
    pod_ref,
    usernames_on,
)
from eg_harness.runtime.waits import WaitTimeout, wait_for

# EG deletes a kernel's pod (and the namespace it made for it) at shutdown; the API server then
# waits for the kubelet. A bound, not a measurement.
POD_GONE_S = 120.0
# EG asks for the namespace's deletion in its shutdown, before it answers. A namespace still
# Active (no deletion asked for) this long after the kernel's pods are gone never will be:
# the wait ends on that evidence instead of running out the bound.
NOT_DELETED_S = 15.0


def _pod_then_gone(kube, kernel_pods, handle, user: str, hop: str, run_state) -> list[str]:
    """One pod, in the expected namespace, naming `user`; after shutdown no pod and no
    namespace of the kernel is left."""
    access = kube.access
    kernel_id = handle.id
    problems: list[str] = []
    try:
        pods = kernel_pods(kernel_id)
        namespaces = expected_namespaces(kernel_id, user, access.namespace, access.shared_namespace)
        problems += identity_problems(pods, kernel_id, user, namespaces)
        run_state.table_row(
            "Kernel pods of hub users" if hop == "hub" else "Kernel pods",
            ["hop", "user", "kernel", "pod", "names the user as", "verdict"],
            [
                hop,
                user,
                kernel_id,
                pod_ref(pods[0]),
                usernames_on(pods[0]),
                "ok" if not problems else "; ".join(problems),
            ],
        )
    finally:
        handle.close()
    own_namespace = dns_label(f"{user}-{kernel_id}")
    # EG deletes the namespace only if it made it (not shared, no KERNEL_NAMESPACE given).
    check_namespace = own_namespace != access.namespace and access.shared_namespace is not True

    shut_down_at = time.monotonic()

    def gone() -> bool:
        if kube.kernel_pods(kernel_id):
            return False
        if not check_namespace:
            return True
        phase = kube.namespace_phase(own_namespace)
        never_asked = phase == "Active" and time.monotonic() - shut_down_at > NOT_DELETED_S
        return phase is None or never_asked

    try:
        wait_for(f"kernel {kernel_id}'s pod to be deleted", gone, POD_GONE_S, max_interval=2)
    except WaitTimeout:
        pass  # named below, pod by pod
    left_ns = [own_namespace] if check_namespace and kube.namespace_exists(own_namespace) else []
    left = leftover_problems(kube.kernel_pods(kernel_id), kernel_id, left_ns)
    cause = _why_left(kube, own_namespace if check_namespace else access.namespace) if left else ""
    return problems + left + ([cause] if cause else [])


def _why_left(kube, namespace: str) -> str:
    """What the API server says the gateway may not do that EG's cleanup needs ('' if none)."""
    try:
        account = kube.gateway_service_account()
        if account is None:
            return ""
        return cleanup_cause(
            kube.may(account, "delete", "pods", namespace),
            kube.may(account, "delete", "namespaces", namespace),
        )
    except Exception:  # noqa: BLE001 - a cause where the cluster can tell, not the verdict
        return ""


def test_hub_kernel_is_its_users_pod_and_gone_after_shutdown(
    kube, kernel_pods, hub_launch, user_server, target, run_state
):
    """Through a hub user's server: one pod, in the expected namespace, naming the hub user;
    after shutdown no pod and no namespace of the kernel is left."""
    handle = hub_launch(user_server, target.gateway.kernelspec)
    problems = _pod_then_gone(kube, kernel_pods, handle, user_server.name, "hub", run_state)
    assert not problems, "\n".join(problems)


def test_gateway_kernel_is_a_pod_in_its_namespace_and_gone_after_shutdown(
    kube, kernel_pods, gateway, target, run_state
):
    """Straight at the gateway, as the client's KERNEL_USERNAME: one pod in its own namespace
    (`<user>-<kernel id>` unless shared), naming that user; nothing of it left after shutdown."""
    handle = gateway.launch(target.gateway.kernelspec)
    problems = _pod_then_gone(kube, kernel_pods, handle, gateway.username, "gateway", run_state)
    assert not problems, "\n".join(problems)
