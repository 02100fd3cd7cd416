"""The kubernetes suite's verdicts, fed the kubernetes client's own model objects deserialised
(through its ApiClient, as a live call does) from JSON shaped like a real cluster's answers:
an EG kernel pod from kernel-pod.yaml.j2 on kind, and its scheduler and kubelet events.

Each scenario that cannot run here (no cluster) has its negative twin here: the faulty object
(a pod left after shutdown, a limit missing, a pod naming another user, ...) must fail the
verdict with words that name the fault.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from eg_harness.checks import layers, netpol, pods
from eg_harness.checks.pods import dns_label
from eg_harness.checks.spark import pod_resource_problems
from eg_harness.k8s.client import connect_probe, from_json
from eg_harness.report import charts
from eg_harness.report.model import Chart

DATA = Path(__file__).resolve().parents[1] / "data"
KERNEL_ID = "8c6a1e2b-5d0f-4b7e-9a11-2f3c4d5e6f70"
USER = "egh-alice-3f1c"
T0 = datetime(2026, 11, 26, 10, 0, 0, 500000, tzinfo=timezone.utc)


def pod_json() -> dict:
    return json.loads((DATA / "k8s_kernel_pod.json").read_text())


def pod(data: dict | None = None):
    return from_json("V1Pod", data or pod_json())


def events(data: dict | None = None) -> list:
    raw = data or json.loads((DATA / "k8s_kernel_events.json").read_text())
    return from_json("CoreV1EventList", raw).items


def span(**phases) -> dict:
    base = {"requested": 0.0, "accepted": 6.2, "channels_open": 6.4, "first_execute_reply": 7.1}
    base.update(phases)
    return {"name": "kernel_start", "start": T0.isoformat(), "phases": base, "attrs": {}}


def env_of(data: dict) -> dict:
    return {e["name"]: e["value"] for e in data["spec"]["containers"][0]["env"]}


# -- identity and orphans ------------------------------------------------------------------------


def test_deserialised_objects_are_the_clients_models():
    p, evs = pod(), events()
    assert type(p).__name__ == "V1Pod" and type(evs[0]).__name__ == "CoreV1Event"
    assert p.status.container_statuses[0].state.running.started_at.tzinfo is not None


def test_a_kernel_pod_of_its_user_passes():
    ns = pods.expected_namespaces(KERNEL_ID, USER, "enterprise-gateway", shared=True)
    assert pods.identity_problems([pod()], KERNEL_ID, USER, ns) == []
    assert pods.usernames_on(pod()) == {"env KERNEL_USERNAME": USER}


def test_every_user_as_one_fails_naming_both_users():
    data = pod_json()
    data["spec"]["containers"][0]["env"][0]["value"] = "jovyan"
    data["metadata"]["name"] = data["spec"]["containers"][0]["name"] = f"jovyan-{KERNEL_ID}"
    problems = pods.identity_problems([pod(data)], KERNEL_ID, USER, {"enterprise-gateway"})
    assert len(problems) == 2
    assert "names user 'jovyan' (env KERNEL_USERNAME), expected 'egh-alice-3f1c'" in problems[0]
    assert "EG #661" in problems[0]
    assert "does not start with the user's name 'egh-alice-3f1c'" in problems[1]


def test_a_pod_naming_no_user_fails():
    data = pod_json()
    del data["spec"]["containers"][0]["env"][0]
    problems = pods.identity_problems([pod(data)], KERNEL_ID, USER, {"enterprise-gateway"})
    assert problems == [
        f"pod enterprise-gateway/{data['metadata']['name']} names no user (no KERNEL_USERNAME "
        "in its env, labels or annotations): expected 'egh-alice-3f1c'"
    ]


def test_a_pod_outside_the_kernels_own_namespace_fails():
    """EG 3.3 without a shared namespace makes one per kernel, named like the pod."""
    ns = pods.expected_namespaces(KERNEL_ID, USER, "enterprise-gateway", shared=False)
    assert ns == {f"{USER}-{KERNEL_ID}"}
    problems = pods.identity_problems([pod()], KERNEL_ID, USER, ns)
    assert problems == [
        "pod enterprise-gateway/egh-alice-3f1c-8c6a1e2b-5d0f-4b7e-9a11-2f3c4d5e6f70 runs in "
        f"namespace 'enterprise-gateway', expected '{USER}-{KERNEL_ID}'"
    ]


def test_no_pod_and_two_pods_fail():
    assert pods.identity_problems([], KERNEL_ID, USER, {"x"}) == [
        f"no pod is labelled kernel_id={KERNEL_ID}: the kernel is not a pod"
    ]
    two = pods.identity_problems([pod(), pod()], KERNEL_ID, USER, {"enterprise-gateway"})
    assert two[0].startswith(f"2 pods are labelled kernel_id={KERNEL_ID}")


def test_a_pod_left_after_shutdown_is_an_orphan():
    data = pod_json()
    data["metadata"]["deletionTimestamp"] = "2026-11-26T10:01:00Z"
    problems = pods.leftover_problems([pod(data)], KERNEL_ID, [f"{USER}-{KERNEL_ID}"])
    assert problems == [
        f"pod enterprise-gateway/{data['metadata']['name']} of kernel {KERNEL_ID} is still there "
        "after shutdown (phase Running, terminating): an orphan pod (EG #932)",
        f"namespace {USER}-{KERNEL_ID} that EG created for kernel {KERNEL_ID} is still there "
        "after shutdown",
    ]
    assert pods.leftover_problems([], KERNEL_ID, []) == []


def test_dns_label_is_egs_pod_name_rule():
    assert dns_label("Alice.Smith@Example.org-K1") == "alice-smith-example-org-k1"
    assert dns_label("--x__y--") == "x-y"


# -- resources -----------------------------------------------------------------------------------


def test_kernel_pod_resources_match_the_start():
    data = pod_json()
    assert pods.kernel_resource_problems(pod(data), env_of(data)) == []
    # The API server may answer a quantity in another spelling; it is the same amount.
    assert pods.kernel_resource_problems(pod(data), {"KERNEL_CPUS": "0.25"}) == []


def test_a_missing_limit_and_a_wrong_request_fail():
    data = pod_json()
    del data["spec"]["containers"][0]["resources"]["limits"]
    data["spec"]["containers"][0]["resources"]["requests"]["memory"] = "128Mi"
    problems = pods.kernel_resource_problems(pod(data), env_of(data))
    name = f"enterprise-gateway/{data['metadata']['name']}"
    assert problems == [
        f"pod {name} has requests.memory 128Mi, expected 256Mi from KERNEL_MEMORY",
        f"pod {name} has no limits.cpu, expected 500m from KERNEL_CPUS_LIMIT",
        f"pod {name} has no limits.memory, expected 512Mi from KERNEL_MEMORY_LIMIT",
    ]


def test_a_spark_size_where_a_quantity_belongs_is_named():
    problems = pods.kernel_resource_problems(pod(), {"KERNEL_MEMORY": "2g"})
    assert problems == [
        "KERNEL_MEMORY='2g' is not a Kubernetes quantity (e.g. 2Gi, 500m): EG's pod template "
        "copies it verbatim into requests.memory and the API server rejects the pod"
    ]


def test_a_limit_below_its_request_is_named():
    data = pod_json()
    data["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "100m"
    problems = pods.kernel_resource_problems(pod(data), {})
    assert problems == [
        f"pod enterprise-gateway/{data['metadata']['name']} limits cpu 100m below its request 250m"
    ]


def test_spark_driver_pod_cpu_limit():
    req = {"cpu": "2", "memory": "2432Mi"}  # 2g + 384 MiB overhead
    assert pod_resource_problems(req, {"cpu": "2", "memory": "2432Mi"}, "2g", "2", "2") == []
    assert pod_resource_problems(req, {"memory": "2432Mi"}, "2g", "2", cpus_limit="2") == [
        "cpu limit is None, expected 2 from KERNEL_CPUS_LIMIT"
    ]


# -- image pull ----------------------------------------------------------------------------------

BAD_IMAGE = "registry.invalid/eg-harness/no-such-image:0"


def pulling_pod() -> dict:
    data = pod_json()
    data["status"]["phase"] = "Pending"
    data["status"]["containerStatuses"][0].update(
        ready=False,
        started=False,
        image=BAD_IMAGE,
        state={
            "waiting": {
                "reason": "ErrImagePull",
                "message": f'failed to pull and unpack image "{BAD_IMAGE}": failed to resolve '
                "reference: dial tcp: lookup registry.invalid: no such host",
            }
        },
    )
    return data


def test_kubernetes_knows_why_the_pull_failed():
    said = pods.pull_failure(pod(pulling_pod()), [])
    assert said.startswith("ErrImagePull: failed to pull and unpack image") and BAD_IMAGE in said
    assert pods.pull_failure(pod(), events()) is None


def test_unpullable_start_verdicts():
    eg_said = (
        "POST /api/kernels -> 500: Internal Server Error; KernelID: 'k' launch timeout due to: "
        "Waited too long (30.0s) to get connection file"
    )
    assert pods.unpullable_problems(eg_said, 31.0, 30, 30, BAD_IMAGE, []) == []
    assert not pods.names_image(eg_said, BAD_IMAGE)
    assert pods.names_image(f"Failed to pull image {BAD_IMAGE}", BAD_IMAGE)
    assert pods.names_image("image registry.invalid/eg-harness/no-such-image not found", BAD_IMAGE)
    left = pods.unpullable_problems(eg_said, 75.0, 30, 30, BAD_IMAGE, [pod(pulling_pod())])
    assert left[0] == "the failed start took 75.0s, more than the launch timeout 30s + 30s"
    assert "with the unpullable image is still there after the failed start" in left[1]
    assert pods.unpullable_problems(None, 3.0, 30, 30, BAD_IMAGE, []) == [
        f"the start with image {BAD_IMAGE} was accepted: a kernel without an image"
    ]


# -- layers --------------------------------------------------------------------------------------


def test_layers_from_a_real_event_list():
    b = layers.breakdown(span(), pod(), events(), label="start 1")
    assert b.layers == {
        "gateway + scheduler": 0.312,
        "image pull": 2.188,
        "container start": 1.0,
        "kernel boot + launcher report": 2.7,
        "channels + first execute": 0.9,
    }
    assert b.total_s == 7.1
    assert b.sources["scheduled"] == "event Scheduled"
    assert b.notes == ["kubelet: pull took 1.734s"] and b.image_cached is False
    assert layers.order_problems(b) == []
    assert len(b.row()) == len(layers.TABLE_COLUMNS)
    # The row carries the layers' figures, in the columns' order (it once looked them up by
    # milestone and showed only blanks, seen on the node cluster).
    assert b.row()[1:-2] == [b.layers[name] for name in layers.LAYERS.values()]
    assert any(v is not None for v in b.row()[1:-2])


def test_a_cached_image_and_status_fallbacks():
    raw = json.loads((DATA / "k8s_kernel_events.json").read_text())
    raw["items"] = [e for e in raw["items"] if e["reason"] not in ("Scheduled", "Started")]
    pulled = next(e for e in raw["items"] if e["reason"] == "Pulled")
    pulled["message"] = 'Container image "elyra/kernel-py:3.3.0" already present on machine'
    b = layers.breakdown(span(), pod(), events(raw))
    # PodScheduled (10:00:00) is 0.5 s before the request: within the 1 s resolution, clamped.
    assert b.sources["scheduled"] == "condition PodScheduled"
    assert b.layers["gateway + scheduler"] == 0.0
    assert b.sources["container_started"] == "containerStatuses startedAt"
    assert b.image_cached is True and "image already on the node" in b.notes


def test_clock_skew_leaves_layers_unknown_and_says_so():
    skewed = span()
    skewed["start"] = (T0 + timedelta(seconds=5)).isoformat()  # harness clock 5 s ahead
    b = layers.breakdown(skewed, pod(), events())
    assert any("the cluster's clock and the harness's disagree" in n for n in b.notes)
    assert b.layers["gateway + scheduler"] is None
    assert b.layers["channels + first execute"] == 0.9  # the harness's own layer survives


def test_a_start_without_the_harness_milestones_is_unusable():
    s = span()
    del s["phases"]["accepted"]
    b = layers.breakdown(s, pod(), events(), label="start 2")
    assert layers.order_problems(b) == [
        "start 2: no launcher_reported milestone (harness span: gateway's 201 (sent once the "
        "launcher reported))"
    ]
    assert b.layers["kernel boot + launcher report"] is None
    assert b.layers["channels + first execute"] is None


def test_go_durations_of_pull_events():
    assert layers.pull_seconds('Successfully pulled image "x" in 1m2.5s (1m2.5s incl') == 62.5
    assert layers.pull_seconds('Successfully pulled image "x" in 512ms (512ms including') == 0.512
    assert layers.pull_seconds('Container image "x" already present on machine') is None


def test_layers_chart_is_a_valid_report_chart():
    b = layers.breakdown(span(), pod(), events(), label="start 1")
    empty = {k: None for k in layers.LAYERS.values()}
    chart = charts.layers_chart(
        [("start 1", b.layers), ("start 2", empty)], list(layers.LAYERS.values())
    )
    Chart.model_validate(chart)
    assert chart["title"] == "Time to a usable kernel by layer"


# -- network policy ------------------------------------------------------------------------------

GATEWAY_LABELS = {"app": "enterprise-gateway", "component": "enterprise-gateway"}


def policy(name: str, selector: dict, types: list[str] | None, egress: bool = False):
    spec: dict = {"podSelector": selector, "ingress": [{"from": [{"podSelector": {}}]}]}
    if types is not None:
        spec["policyTypes"] = types
    if egress:
        spec["egress"] = [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}]
    return from_json(
        "V1NetworkPolicy",
        {"metadata": {"name": name, "namespace": "enterprise-gateway"}, "spec": spec},
    )


def test_label_selectors_as_kubernetes_reads_them():
    sel = from_json(
        "V1LabelSelector",
        {
            "matchLabels": {"app": "enterprise-gateway"},
            "matchExpressions": [
                {"key": "component", "operator": "In", "values": ["enterprise-gateway"]},
                {"key": "tier", "operator": "DoesNotExist"},
            ],
        },
    )
    assert netpol.selector_matches(sel, GATEWAY_LABELS)
    assert not netpol.selector_matches(sel, {**GATEWAY_LABELS, "tier": "x"})
    assert not netpol.selector_matches(sel, {"app": "enterprise-gateway", "component": "kernel"})
    assert netpol.selector_matches(from_json("V1LabelSelector", {}), {})


def test_policies_guarding_the_gateway():
    pols = [
        policy("eg-ingress", {"matchLabels": {"app": "enterprise-gateway"}}, None),
        policy("kernels", {"matchLabels": {"component": "kernel"}}, ["Ingress"]),
        policy("eg-egress-only", {}, ["Egress"], egress=True),
    ]
    assert [p.metadata.name for p in netpol.policies_guarding(pols, GATEWAY_LABELS)] == [
        "eg-ingress"
    ]
    egress = netpol.policies_guarding(pols, GATEWAY_LABELS, "Egress")
    assert [p.metadata.name for p in egress] == ["eg-egress-only"]


def test_reach_verdicts():
    guarding = [policy("eg-ingress", {}, None)]
    blocked = netpol.Probe("user pod jhub/jupyter-a", False, "TimeoutError timed out")
    assert (
        "cannot reach the gateway at 10.96.0.5:8888 (TimeoutError timed out)"
        in (netpol.user_reach_problems(blocked, "10.96.0.5:8888")[0])
    )
    assert netpol.user_reach_problems(netpol.Probe("u", True, "connected"), "x") == []
    outsider = netpol.Probe("unlabelled pod in egh-np-1", True, "connected")
    assert netpol.outsider_problems(outsider, "10.96.0.5:8888", guarding) == [
        "unlabelled pod in egh-np-1 reached the gateway at 10.96.0.5:8888 although "
        "NetworkPolicy eg-ingress guards it: the policy lets it in, or the cluster does not "
        "enforce policies"
    ]
    assert netpol.outsider_problems(netpol.Probe("o", False, ""), "x", guarding) == []


def test_connect_probe_is_real_python(tmp_path):
    """The probe's code runs (here, against a closed local port: it must say it failed)."""
    import subprocess
    import sys

    from eg_harness.runtime.ports import free_port

    argv = connect_probe("127.0.0.1", free_port(), timeout=2)
    done = subprocess.run([sys.executable, *argv[1:]], capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "ConnectionRefusedError" in done.stdout


@pytest.mark.parametrize(
    ("kind", "doc"), [("V1Pod", {}), ("CoreV1EventList", {"items": []}), ("V1NetworkPolicy", {})]
)
def test_from_json_gives_the_clients_own_types(kind, doc):
    obj = from_json(kind, doc)
    assert type(obj).__name__ == kind
    assert copy.deepcopy(obj) == obj


def test_from_json_refuses_what_the_api_would_not_return():
    """The client's models validate: an event list without items is not silently empty."""
    with pytest.raises(ValueError, match="items"):
        from_json("CoreV1EventList", {})


def test_the_seed_profiles_spark_sizes_break_every_non_spark_kernel_pod():
    """The kind profile (as the seed writes it) sets KERNEL_MEMORY=1g/2g on the user server for
    Spark; every kernel of that user inherits it, and a pod with memory 1g is refused: the
    kubernetes client's own quantity parser (its mirror of the API server's) says so."""
    profile_env = {"KERNEL_MEMORY": "2g", "KERNEL_CPUS": "1"}
    assert pods.env_quantity_problems(profile_env) == [
        "KERNEL_MEMORY='2g' is not a Kubernetes quantity (e.g. 2Gi, 500m): EG's pod template "
        "copies it verbatim into requests.memory and the API server rejects the pod"
    ]
    assert pods.env_quantity_problems({"KERNEL_MEMORY": "2Gi", "KERNEL_CPUS_LIMIT": "1"}) == []
    assert pods.quantity("250m") == pods.quantity("0.25") and pods.quantity("2gb") is None
