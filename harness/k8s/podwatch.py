"""The pod of a kernel start that is still pending, read from the cluster while EG is silent.

A start on a cluster target carries its own KERNEL_ID (EG 3.3 takes a client's v4 UUID:
remotemanager.py new_kernel_id), so the harness knows the pod's `kernel_id` label before EG
answers. GatewayClient.launch asks `ended()` every second while its POST is pending: a pod
that ended fails the start at once with what it did (eg_harness.checks.podstory), not after EG's
launch timeout. A start EG refused is told with `story()`: the pod's facts, or, when no pod
exists, whether the gateway's service account may create one (RBAC).

What the cluster says is evidence beside the gateway's answer, never the verdict's only
source: a watch that cannot read the cluster (no rights, API down) says nothing and lets the
start run its course.
"""

from __future__ import annotations

import threading

from eg_harness.checks.pods import dns_label
from eg_harness.checks.podstory import no_pod_story, pod_ended, pod_story
from eg_harness.k8s.client import Kube
from eg_harness.targets.endpoints import KubernetesAccess


class KernelPodWatch:
    """Reads of one cluster for pending kernel starts; one client, made on first use."""

    def __init__(self, access: KubernetesAccess) -> None:
        self.access = access
        self._kube: Kube | None = None
        self._broken = False
        self._lock = threading.Lock()

    def _client(self) -> Kube | None:
        with self._lock:
            if self._kube is None and not self._broken:
                try:
                    self._kube = Kube(self.access)
                except Exception:  # noqa: BLE001 - no credentials: the watch stays silent
                    self._broken = True
            return self._kube

    def _pods(self, kernel_id: str) -> list | None:
        kube = self._client()
        if kube is None:
            return None
        try:
            return kube.kernel_pods(kernel_id)
        except Exception:  # noqa: BLE001 - evidence, not the verdict
            return None

    def ended(self, kernel_id: str) -> str | None:
        """The story of the kernel's pod if it has ended (the kernel can no longer report)."""
        pods = self._pods(kernel_id)
        done = [p for p in pods or [] if pod_ended(p)]
        return self._tell(done[0]) if done else None

    def story(self, kernel_id: str, username: str | None) -> str | None:
        """What the cluster knows of this start: its pod, or why there is none."""
        pods = self._pods(kernel_id)
        if pods is None:
            return None
        if pods:
            return self._tell(pods[0])
        kube = self._client()
        assert kube is not None
        namespace = dns_label(f"{username}-{kernel_id}") if username else self.access.namespace
        if self.access.shared_namespace:
            namespace = self.access.namespace
        try:
            account = kube.gateway_service_account()
        except Exception:  # noqa: BLE001
            account = None
        allowed = None
        if account is not None:
            try:
                allowed = kube.may(account, "create", "pods", namespace)
            except Exception:  # noqa: BLE001 - the harness may not ask reviews
                allowed = None
        return no_pod_story(namespace, account, allowed)

    def _tell(self, pod) -> str:
        kube = self._client()
        assert kube is not None
        try:
            events = kube.events_of(pod)
        except Exception:  # noqa: BLE001
            events = []
        try:
            tail = kube.log_tail(pod)
        except Exception as exc:  # noqa: BLE001 - e.g. the container never started
            tail = f"(no log: {getattr(exc, 'reason', None) or type(exc).__name__})"
        return pod_story(pod, events, tail)

    def close(self) -> None:
        with self._lock:
            if self._kube is not None:
                self._kube.close()
                self._kube = None
