"""How EG 3.3.0 delivers KERNEL_* values on each launch path (KERNEL_WORKING_DIR dropped on
container paths unless the gateway mirrors working directories), and what a failed start left
on the cluster, judged without a gateway."""

from __future__ import annotations

import pytest
from eg_harness.abuse.injection import (
    PAYLOADS_BY_ID,
    PROBE_VAR,
    delivery,
    mirror_from_probe,
    mirrors_working_dirs,
)
from eg_harness.checks.injection import Seen, judge, pod_injected

CANARY = "/tmp/egh-canary-y"
WD = "/tmp/egh-wd/$(touch /tmp/egh-canary-y)"
SENT = {PROBE_VAR: "$(touch /tmp/egh-canary-y)", "KERNEL_WORKING_DIR": WD}


@pytest.mark.parametrize(
    ("value", "on"),
    [
        (None, False),
        ("false", False),
        ("False", False),
        ("True", True),
        ("TRUE", True),
        ("true", True),
        ("yes", False),
        ("1", False),
        ("", False),
    ],
)
def test_mirroring_is_read_as_eg_reads_it(value, on):
    assert mirrors_working_dirs(value) is on


@pytest.mark.parametrize(
    ("output", "on"),
    [
        ("", False),
        ("set:False\n", False),
        ("set:True\n", True),
        ("set:\n", False),
        ("warning: x\nset:true\n", True),
        ("True\n", False),
    ],
)
def test_the_gateway_pods_setting_is_read_from_the_probe_output(output, on):
    """No "set:" line is an unset variable (EG's default, false), not the text printed."""
    assert mirror_from_probe(output) is on


@pytest.mark.parametrize(
    ("kind", "var", "mirror", "how"),
    [
        ("kubernetes-pod", "KERNEL_WORKING_DIR", False, "dropped"),
        ("kubernetes-pod", "KERNEL_WORKING_DIR", True, "intact"),
        ("kubernetes-pod", "KERNEL_WORKING_DIR", None, "dropped-or-intact"),
        ("kubernetes-pod", PROBE_VAR, False, "intact"),
        ("kubernetes-pod", PROBE_VAR, None, "intact"),
        ("local-process", "KERNEL_WORKING_DIR", False, "intact"),
        ("remote-launch", "KERNEL_WORKING_DIR", None, "intact"),
    ],
)
def test_only_container_paths_drop_the_working_dir(kind, var, mirror, how):
    assert delivery(kind, var, mirror) == how


def _seen(arrived, mirror):
    seen = Seen(status=201, arrived=arrived, canary_in_kernel=False)
    seen.delivery = {v: delivery("kubernetes-pod", v, mirror) for v in SENT}
    return seen


def _bytes(**values):
    return {k: v.encode() for k, v in values.items()}


P = PAYLOADS_BY_ID["shell-subst"]


def test_a_dropped_working_dir_passes_only_when_eg_drops_it():
    arrived = {PROBE_VAR: SENT[PROBE_VAR].encode(), "KERNEL_WORKING_DIR": None}
    ok, why = judge(P, SENT, _seen(arrived, mirror=False), CANARY)
    assert ok and "KERNEL_WORKING_DIR dropped by EG" in why
    ok, why = judge(P, SENT, _seen(arrived, mirror=True), CANARY)
    assert not ok and "KERNEL_WORKING_DIR is missing inside the kernel" in why
    ok, _ = judge(P, SENT, _seen(arrived, mirror=None), CANARY)
    assert ok


def test_a_working_dir_eg_should_drop_fails_when_it_arrives():
    arrived = {k: v.encode() for k, v in SENT.items()}
    ok, why = judge(P, SENT, _seen(arrived, mirror=False), CANARY)
    assert not ok and "reached the kernel, though EG drops it" in why
    assert judge(P, SENT, _seen(arrived, mirror=True), CANARY)[0]
    assert judge(P, SENT, _seen(arrived, mirror=None), CANARY)[0]


@pytest.mark.parametrize("mirror", [True, None])
def test_a_changed_working_dir_fails_whatever_the_setting(mirror):
    arrived = {PROBE_VAR: SENT[PROBE_VAR].encode(), "KERNEL_WORKING_DIR": b"/tmp/egh-wd/"}
    ok, why = judge(P, SENT, _seen(arrived, mirror), CANARY)
    assert not ok and "KERNEL_WORKING_DIR arrived changed" in why


def _pod(working_dir=None, env=None):
    container = {"env": [{"name": k, "value": v} for k, v in (env or {}).items()]}
    if working_dir is not None:
        container["workingDir"] = working_dir
    return {"metadata": {"name": "egh-inject-1"}, "spec": {"containers": [container]}}


def test_pod_of_a_dropped_working_dir_has_no_working_dir_nor_env_entry():
    dropped = {"KERNEL_WORKING_DIR": "dropped"}
    assert pod_injected(_pod(env={PROBE_VAR: SENT[PROBE_VAR]}), SENT, dropped) == []
    problems = pod_injected(_pod(working_dir=WD), SENT, dropped)
    assert problems == [f"the pod gained workingDir {WD!r} though EG drops KERNEL_WORKING_DIR"]
    problems = pod_injected(_pod(env={"KERNEL_WORKING_DIR": WD}), SENT, dropped)
    assert problems == ["the pod's env holds KERNEL_WORKING_DIR, which EG drops on this path"]


def test_pod_of_a_mirrored_working_dir_holds_it_byte_for_byte():
    intact = {"KERNEL_WORKING_DIR": "intact"}
    assert pod_injected(_pod(WD, {"KERNEL_WORKING_DIR": WD}), SENT, intact) == []
    assert pod_injected(_pod(None, {"KERNEL_WORKING_DIR": WD}), SENT, intact) == [
        "the pod's workingDir is None, not KERNEL_WORKING_DIR as sent"
    ]
    assert pod_injected(_pod("/tmp/egh-wd/", {"KERNEL_WORKING_DIR": WD}), SENT, intact) != []


def test_pod_with_the_setting_unknown_takes_either_but_not_a_change():
    either = {"KERNEL_WORKING_DIR": "dropped-or-intact"}
    assert pod_injected(_pod(), SENT, either) == []
    assert pod_injected(_pod(WD, {"KERNEL_WORKING_DIR": WD}), SENT, either) == []
    assert pod_injected(_pod("/tmp/egh-wd/x"), SENT, either) == [
        "the pod's workingDir is '/tmp/egh-wd/x', not KERNEL_WORKING_DIR as sent"
    ]


def test_a_failed_start_that_left_a_namespace_fails_even_when_refused():
    nul = PAYLOADS_BY_ID["nul-byte"]
    sent = {PROBE_VAR: nul.value}
    refused = Seen(status=400, left_behind=[])
    assert judge(nul, sent, refused, CANARY) == (True, "refused (400)")
    leaked = Seen(status=400, left_behind=["namespace egh-inject-1"])
    ok, why = judge(nul, sent, leaked, CANARY)
    assert not ok and "the failed start left namespace egh-inject-1 behind" in why
    crashed = Seen(status=500, message="Unknown server error", left_behind=["namespace n"])
    ok, why = judge(nul, sent, crashed, CANARY)
    assert not ok and "answered 500" in why and "left namespace n behind" in why
