"""A kernel start on a cluster names what its pod did: pure stories from the client's own models,
and GatewayClient.launch failing a pending start within seconds of its pod's end."""

from __future__ import annotations

import copy
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from eg_harness.checks.podstory import no_pod_story, pod_ended, pod_story
from eg_harness.clients.gateway import GatewayClient, GatewayHTTPError, KernelStartFailed
from eg_harness.k8s.client import from_json

DATA = Path(__file__).resolve().parents[1] / "data"
KERNEL_ID = "8c6a1e2b-5d0f-4b7e-9a11-2f3c4d5e6f70"


def pod_json() -> dict:
    return json.loads((DATA / "k8s_kernel_pod.json").read_text())


def succeeded_pod_json() -> dict:
    """The PATH trap of KUBERNETES_HERE: bootstrap-kernel.sh finds no python, exits 0, the pod
    is Succeeded within a second."""
    data = copy.deepcopy(pod_json())
    data["status"]["phase"] = "Succeeded"
    data["status"]["containerStatuses"][0]["ready"] = False
    data["status"]["containerStatuses"][0]["state"] = {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": "2026-11-26T10:00:04Z",
            "finishedAt": "2026-11-26T10:00:04Z",
        }
    }
    return data


def events() -> list:
    raw = json.loads((DATA / "k8s_kernel_events.json").read_text())
    return from_json("CoreV1EventList", raw).items


LOG = (
    "Starting IPython kernel\n"
    "/usr/local/bin/bootstrap-kernel.sh: line 63: python: command not found\n"
)


def test_a_running_kernel_pod_has_not_ended():
    assert not pod_ended(from_json("V1Pod", pod_json()))


def test_a_succeeded_pod_has_ended_and_its_story_names_phase_exit_log_and_events():
    pod = from_json("V1Pod", succeeded_pod_json())
    assert pod_ended(pod)
    story = pod_story(pod, events(), LOG)
    assert "is Succeeded" in story
    assert "exited 0 (Completed)" in story
    assert "python: command not found" in story
    assert "Scheduled:" in story and "Started:" in story  # the events, in order


def test_a_container_stuck_in_a_config_error_has_ended():
    data = copy.deepcopy(pod_json())
    data["status"]["phase"] = "Pending"
    data["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "CreateContainerConfigError", "message": 'secret "x" not found'}
    }
    pod = from_json("V1Pod", data)
    assert pod_ended(pod)
    assert 'waiting (CreateContainerConfigError): secret "x" not found' in pod_story(pod, [], "")


def test_a_pod_pulling_its_image_has_not_ended():
    """ErrImagePull is EG's to report (the image-pull scenario judges it), not a dead pod."""
    data = copy.deepcopy(pod_json())
    data["status"]["phase"] = "Pending"
    data["status"]["containerStatuses"][0]["state"] = {"waiting": {"reason": "ErrImagePull"}}
    assert not pod_ended(from_json("V1Pod", data))


def test_no_pod_names_rbac_when_the_gateway_may_not_create_pods():
    said = no_pod_story("alice-k1", "enterprise-gateway:enterprise-gateway-sa", False)
    assert "RBAC" in said and "may not create pods in alice-k1" in said
    assert "RBAC" not in no_pod_story("alice-k1", "enterprise-gateway:enterprise-gateway-sa", True)


class FakeWatch:
    def __init__(self, ended_after: int | None, story: str = "pod x/y is Succeeded") -> None:
        self.calls = 0
        self.ended_after = ended_after
        self._story = story

    def ended(self, kernel_id: str) -> str | None:
        self.calls += 1
        if self.ended_after is not None and self.calls >= self.ended_after:
            return f"{self._story} ({kernel_id})"
        return None

    def story(self, kernel_id: str, username: str | None) -> str | None:
        return f"no kernel pod was created: RBAC denies it ({username})"


def client_with(handler, watch) -> GatewayClient:
    client = GatewayClient("http://gw.invalid:8888", "t0ken", launch_timeout=30, start_watch=watch)
    client.http = httpx.Client(transport=httpx.MockTransport(handler))
    return client


def test_a_pending_start_whose_pod_ended_fails_within_seconds_naming_the_pod():
    release = threading.Event()
    sent = {}

    def handler(request: httpx.Request) -> httpx.Response:
        sent.update(json.loads(request.content))
        release.wait(20)  # EG's silence until its launch timeout
        return httpx.Response(500, json={"message": "Waited too long (60.0s)"})

    client = client_with(handler, FakeWatch(ended_after=2))
    t0 = time.monotonic()
    try:
        with pytest.raises(KernelStartFailed) as info:
            client.launch("python_kubernetes")
    finally:
        release.set()
    assert time.monotonic() - t0 < 10, "the dead pod was not named within seconds"
    kernel_id = sent["env"]["KERNEL_ID"]
    assert f"kernel {kernel_id}'s pod ended before the kernel reported" in str(info.value)
    assert "is Succeeded" in str(info.value)


def test_a_refused_start_is_told_with_what_the_cluster_knows():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(404)
        return httpx.Response(500, json={"message": "Error occurred during launch of KernelID"})

    client = client_with(handler, FakeWatch(ended_after=None))
    with pytest.raises(KernelStartFailed) as info:
        client.launch("python_kubernetes")
    text = str(info.value)
    assert "POST /api/kernels -> 500" in text and "RBAC denies it (eg-harness)" in text
    assert isinstance(info.value.__cause__, GatewayHTTPError)


def test_without_a_watch_no_kernel_id_is_sent_and_errors_are_the_gateways():
    sent = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            sent.update(json.loads(request.content))
        return httpx.Response(500, json={"message": "nope"})

    client = client_with(handler, None)
    with pytest.raises(GatewayHTTPError):
        client.launch("python3")
    assert "KERNEL_ID" not in sent["env"]
