"""One Kubernetes client per target, built from its KubernetesAccess, with the few reads and
probes the scenarios need.

The client gets its own ApiClient (never the kubernetes package's global configuration), so two
targets or a kind cluster and an existing one never share credentials. Every call carries a
request timeout; waits go through runtime/waits.wait_for.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from eg_harness.checks.layers import event_time
from eg_harness.checks.pods import dns_label
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.endpoints import KubernetesAccess

REQUEST_TIMEOUT = 30  # seconds, every API call
RUN_ID_LABEL = "eg-harness/run-id"  # on everything the harness creates in a cluster


def kubernetes_client() -> Any:
    """The kubernetes client package (with its config, stream and exceptions), imported on first
    use: it costs about 0.4 s, and every pytest process imports this module
    (eg_harness.fixtures.target) whether or not its target has a cluster."""
    import kubernetes  # noqa: PLC0415 - ~0.4 s at start-up; only a cluster's runs need it
    import kubernetes.client.exceptions  # noqa: PLC0415 - as above
    import kubernetes.stream  # noqa: PLC0415 - as above

    return kubernetes


def from_json(kind: str, data: dict[str, Any] | list) -> Any:
    """A kubernetes client model (e.g. "V1Pod", "CoreV1EventList") from the JSON the API server
    returns, deserialised exactly as the client does it for a live call."""
    api = kubernetes_client().client.ApiClient()
    return api.deserialize(json.dumps(data), kind, "application/json")


@dataclass
class ExecResult:
    code: int | None  # None: the command's status could not be read
    output: str


class Kube:
    """The cluster of one target: pods, events, network policies, exec and probe pods."""

    def __init__(self, access: KubernetesAccess) -> None:
        client, config = kubernetes_client().client, kubernetes_client().config

        self.access = access
        try:
            if access.kubeconfig is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
                cfg = client.Configuration()
                config.load_incluster_config(client_configuration=cfg)
                self.api = client.ApiClient(cfg)
            else:
                path = os.path.expanduser(access.kubeconfig or "~/.kube/config")
                self.api = config.new_client_from_config(
                    config_file=path, context=access.context, persist_config=False
                )
        except Exception as exc:  # the package raises several unrelated types here
            raise TargetUnavailable(
                f"cannot load Kubernetes credentials ({type(exc).__name__}: {exc}): check "
                "kubernetes.kubeconfig and kubernetes.context in the target config, or run "
                "inside the cluster with a service account"
            ) from None
        self.core = client.CoreV1Api(self.api)
        self.networking = client.NetworkingV1Api(self.api)

    def close(self) -> None:
        self.api.close()

    # -- reads ---------------------------------------------------------------------------
    def kernel_pods(self, kernel_id: str) -> list:
        """The pods EG labelled with this kernel id, in any namespace (EG may make one per
        kernel), or in the gateway's namespace when the harness may not list cluster-wide."""
        selector = f"kernel_id={kernel_id}"
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            return self.core.list_pod_for_all_namespaces(
                label_selector=selector, _request_timeout=REQUEST_TIMEOUT
            ).items
        except ApiException as exc:
            if exc.status != 403:
                raise
            return self.core.list_namespaced_pod(
                self.access.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
            ).items

    def pods_named(self, prefix: str) -> list:
        """Pods whose name starts with `prefix` (EG names kernel pods `<user>-<kernel id>`), in
        any namespace: how a start that never got its 201 (so no kernel id) is found."""
        pods = self.core.list_pod_for_all_namespaces(
            label_selector="component=kernel", _request_timeout=REQUEST_TIMEOUT
        ).items
        return [p for p in pods if p.metadata.name.startswith(prefix)]

    def kernel_namespaces(self, kernel_id: str) -> list[str] | None:
        """The namespaces EG made for this kernel id (it labels them kernel_id=<id>) and has not
        begun to delete: what a start that failed half-way leaves. None when the harness may not
        list namespaces."""
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            items = self.core.list_namespace(
                label_selector=f"kernel_id={kernel_id}", _request_timeout=REQUEST_TIMEOUT
            ).items
        except ApiException as exc:
            if exc.status != 403:
                raise
            return None
        return [
            ns.metadata.name
            for ns in items
            if (ns.status.phase if ns.status else None) != "Terminating"  # already going
        ]

    def namespace_exists(self, name: str) -> bool:
        return self.namespace_phase(name) is not None

    def namespace_phase(self, name: str) -> str | None:
        """'Active' or 'Terminating' (its deletion asked for), None when it is gone."""
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            ns = self.core.read_namespace(name, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return (ns.status.phase if ns.status else None) or "Active"

    def events_of(self, pod) -> list:
        """The events about one pod, oldest first."""
        ns, name = pod.metadata.namespace, pod.metadata.name
        events = self.core.list_namespaced_event(
            ns,
            field_selector=f"involvedObject.kind=Pod,involvedObject.name={name}",
            _request_timeout=REQUEST_TIMEOUT,
        ).items
        return sorted(events, key=lambda e: (event_time(e) is None, event_time(e)))

    def log_tail(self, pod, lines: int = 20) -> str:
        """The last lines of the pod's first container's log (what a crashed kernel said)."""
        return self.core.read_namespaced_pod_log(
            pod.metadata.name,
            pod.metadata.namespace,
            container=pod.spec.containers[0].name,
            tail_lines=lines,
            _request_timeout=REQUEST_TIMEOUT,
        )

    def gateway_service_account(self) -> str | None:
        """`namespace:name` of the account the gateway's pod runs as (who creates kernel pods)."""
        pods = self.gateway_pods()
        if not pods:
            return None
        return f"{self.access.namespace}:{pods[0].spec.service_account_name or 'default'}"

    def may(self, account: str, verb: str, resource: str, namespace: str) -> bool:
        """Whether the service account `namespace:name` may `verb` `resource` in `namespace`,
        as the API server's authorizer answers (a SubjectAccessReview, like `kubectl auth
        can-i --as`)."""
        client = kubernetes_client().client

        ns, name = account.split(":", 1)
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=f"system:serviceaccount:{ns}:{name}",
                groups=["system:serviceaccounts", f"system:serviceaccounts:{ns}"],
                resource_attributes=client.V1ResourceAttributes(
                    verb=verb, resource=resource, namespace=namespace
                ),
            )
        )
        answer = client.AuthorizationV1Api(self.api).create_subject_access_review(
            review, _request_timeout=REQUEST_TIMEOUT
        )
        return bool(answer.status.allowed)

    def network_policies(self, namespace: str) -> list:
        return self.networking.list_namespaced_network_policy(
            namespace, _request_timeout=REQUEST_TIMEOUT
        ).items

    def gateway_service(self):
        return self.core.read_namespaced_service(
            self.access.gateway_service, self.access.namespace, _request_timeout=REQUEST_TIMEOUT
        )

    def gateway_pods(self) -> list:
        """The pods behind the gateway's Service (its selector), which network policies guard."""
        svc = self.gateway_service()
        selector = ",".join(f"{k}={v}" for k, v in (svc.spec.selector or {}).items())
        return self.core.list_namespaced_pod(
            self.access.namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT
        ).items

    def user_pod(self, username: str):
        """A hub user's single-user pod: KubeSpawner annotates it with the unescaped name."""
        ns = self.access.hub_namespace
        pods = self.core.list_namespaced_pod(
            ns, label_selector="component=singleuser-server", _request_timeout=REQUEST_TIMEOUT
        ).items
        for pod in pods:
            if (pod.metadata.annotations or {}).get("hub.jupyter.org/username") == username:
                return pod
        return None

    # -- faults ------------------------------------------------------------------------
    def delete_pod(self, pod, grace_seconds: int | None = None) -> None:
        """Delete one pod as `kubectl delete pod` does (its own grace period unless
        `grace_seconds`; 0 is a kill, as a node failure or an eviction without grace)."""
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            self.core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                grace_period_seconds=grace_seconds,
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status != 404:
                raise

    def pod_exists(self, pod) -> bool:
        """Whether this very pod (same uid, not a successor of the same name) still exists."""
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            now = self.core.read_namespaced_pod(
                pod.metadata.name, pod.metadata.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        return now.metadata.uid == pod.metadata.uid

    def kernel_pods_all(self) -> list:
        """Every pod EG labels as a kernel (component=kernel), in any namespace."""
        return self.core.list_pod_for_all_namespaces(
            label_selector="component=kernel", _request_timeout=REQUEST_TIMEOUT
        ).items

    # -- probes --------------------------------------------------------------------------
    def exec(self, pod, argv: list[str], timeout: float = 30) -> ExecResult:
        """Run argv in the pod's first container; the exit status from the exec channel."""
        stream = kubernetes_client().stream.stream

        resp = stream(
            self.core.connect_get_namespaced_pod_exec,
            pod.metadata.name,
            pod.metadata.namespace,
            container=pod.spec.containers[0].name,
            command=argv,
            stderr=True,
            stdout=True,
            stdin=False,
            tty=False,
            _preload_content=False,
        )
        out = []
        try:
            resp.run_forever(timeout=timeout)
            out.append(resp.read_stdout() or "")
            out.append(resp.read_stderr() or "")
            code = resp.returncode
        finally:
            resp.close()
        return ExecResult(code, "".join(out))

    def run_probe_pod(
        self, namespace: str, image: str, argv: list[str], run_id: str, timeout: float = 120
    ) -> ExecResult:
        """A one-shot pod (no labels but the run id) that runs argv; deleted before returning."""
        client = kubernetes_client().client

        name = f"egh-probe-{dns_label(run_id)[-20:]}".strip("-")
        body = client.V1Pod(
            metadata=client.V1ObjectMeta(name=name, labels={RUN_ID_LABEL: dns_label(run_id)}),
            spec=client.V1PodSpec(
                restart_policy="Never",
                containers=[
                    client.V1Container(
                        name="probe", image=image, image_pull_policy="IfNotPresent", command=argv
                    )
                ],
            ),
        )
        self.core.create_namespaced_pod(namespace, body, _request_timeout=REQUEST_TIMEOUT)
        try:

            def finished():
                pod = self.core.read_namespaced_pod(name, namespace, _request_timeout=30)
                return pod if pod.status.phase in ("Succeeded", "Failed") else None

            pod = wait_for(
                f"probe pod {namespace}/{name} to finish", finished, timeout, max_interval=2
            )
            logs = self.core.read_namespaced_pod_log(name, namespace, _request_timeout=30)
            state = pod.status.container_statuses[0].state.terminated
            return ExecResult(state.exit_code if state else None, logs)
        finally:
            self.core.delete_namespaced_pod(
                name, namespace, grace_period_seconds=0, _request_timeout=REQUEST_TIMEOUT
            )

    def create_namespace(self, name: str, run_id: str) -> None:
        client = kubernetes_client().client

        meta = client.V1ObjectMeta(name=name, labels={RUN_ID_LABEL: dns_label(run_id)})
        self.core.create_namespace(client.V1Namespace(metadata=meta), _request_timeout=30)

    def delete_namespace(self, name: str, timeout: float = 120) -> None:
        """Delete and wait until it is gone, so a run leaves nothing behind."""
        ApiException = kubernetes_client().client.exceptions.ApiException

        try:
            self.core.delete_namespace(name, _request_timeout=REQUEST_TIMEOUT)
        except ApiException as exc:
            if exc.status != 404:
                raise
        wait_for(
            f"namespace {name} to be deleted", lambda: not self.namespace_exists(name), timeout
        )


def connect_probe(host: str, port: int, timeout: float = 5) -> list[str]:
    """argv of a TCP connect from inside a pod with Python (user and kernel images have it):
    exit 0 when the connection opened, 1 with the error otherwise."""
    code = (
        "import socket,sys\n"
        "try:\n"
        f"    socket.create_connection(({host!r}, {int(port)}), {float(timeout)}).close()\n"
        "    print('connected')\n"
        "except OSError as e:\n"
        "    print(type(e).__name__, e); sys.exit(1)\n"
    )
    return ["python3", "-c", code]


__all__ = ["ExecResult", "Kube", "connect_probe", "from_json"]
