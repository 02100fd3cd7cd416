"""The KERNEL_* injection probe's records and verdict, without a gateway."""

from __future__ import annotations

import pytest
from eg_harness.abuse.injection import (
    EG_MAX_ENV_VALUE,
    PAYLOADS,
    PAYLOADS_BY_ID,
    PROBE_VAR,
    SPARK_MARK,
    classify,
    launch_paths,
)
from eg_harness.checks.injection import Seen, judge, pod_injected, spark_injected

CANARY = "/tmp/egh-canary-x"


def _spec(proxy=None, env=None, role=None, hosts=None):
    meta = {}
    if proxy:
        meta["process_proxy"] = {"class_name": proxy, "config": {"remote_hosts": hosts or ""}}
    if role:
        meta["eg_harness"] = {"role": role}
    return {"spec": {"argv": ["x"], "env": env or {}, "metadata": meta}}


DIST = "enterprise_gateway.services.processproxies.distributed.DistributedProcessProxy"
K8S = "enterprise_gateway.services.processproxies.k8s.KubernetesProcessProxy"


@pytest.mark.parametrize(
    ("spec", "kind"),
    [
        (_spec(), "local-process"),
        (_spec(DIST, hosts="127.0.0.1"), "remote-launch"),
        (_spec(DIST, hosts="10.0.0.5,10.0.0.6"), "remote-ssh"),
        (_spec("watched.WatchedDistributedProcessProxy", env={"SPARK_OPTS": "x"}), "spark"),
        (_spec(K8S), "kubernetes-pod"),
    ],
)
def test_each_kernelspec_is_classified_by_its_process_proxy(spec, kind):
    assert classify("k", spec).kind == kind


def test_fault_kernelspecs_are_no_launch_path_and_each_kind_is_probed_once():
    specs = {
        "kernelspecs": {
            "a": _spec(),
            "b": _spec(),
            "never_ready": _spec(DIST, role="fault", hosts="127.0.0.1"),
            "c": _spec(DIST, hosts="localhost"),
        }
    }
    paths = launch_paths(specs)
    assert [(p.kind, p.kernelspec) for p in paths] == [
        ("local-process", "a"),
        ("remote-launch", "c"),
    ]
    assert "ssh" in paths[1].note


def test_every_payload_that_could_run_names_the_canary():
    shell = [p for p in PAYLOADS if p.id.startswith("shell-") or p.id == "newline-command"]
    assert shell and all("{canary}" in p.value for p in shell)
    assert len(PAYLOADS_BY_ID["long-over-limit"].value) == EG_MAX_ENV_VALUE + 1
    assert PAYLOADS_BY_ID["nul-byte"].expect == "refused"


def test_intact_arrival_passes_and_a_change_fails():
    p = PAYLOADS_BY_ID["shell-subst"]
    sent = {PROBE_VAR: p.text(CANARY)}
    ok, why = judge(p, sent, Seen(201, arrived={PROBE_VAR: sent[PROBE_VAR].encode()}), CANARY)
    assert ok, why
    ok, why = judge(p, sent, Seen(201, arrived={PROBE_VAR: b""}), CANARY)
    assert not ok and "arrived changed" in why


def test_a_canary_fails_even_when_the_value_arrived():
    p = PAYLOADS_BY_ID["shell-backticks"]
    sent = {PROBE_VAR: p.text(CANARY)}
    seen = Seen(201, arrived={PROBE_VAR: sent[PROBE_VAR].encode()}, canary_on_host=True)
    ok, why = judge(p, sent, seen, CANARY)
    assert not ok
    assert "the payload ran: canary /tmp/egh-canary-x exists on the kernel's machine" in why
    assert p.what in why


@pytest.mark.parametrize(("status", "ok"), [(400, True), (403, True), (500, False), (None, False)])
def test_only_a_4xx_refusal_counts_as_refused(status, ok):
    p = PAYLOADS_BY_ID["nul-byte"]
    assert judge(p, {PROBE_VAR: p.value}, Seen(status, message="x"), CANARY)[0] is ok


def test_a_value_that_must_be_refused_fails_when_accepted():
    p = PAYLOADS_BY_ID["long-over-limit"]
    sent = {PROBE_VAR: p.value}
    ok, why = judge(p, sent, Seen(201, arrived={PROBE_VAR: p.value.encode()}), CANARY)
    assert not ok and "must refuse" in why


def test_spark_conf_gained_an_option():
    assert spark_injected({SPARK_MARK: "true", "spark.app.name": "egh"}) == [f"{SPARK_MARK}=true"]
    assert spark_injected({"spark.driver.extraJavaOptions": "-Xss4m -Degh=1"})
    assert spark_injected({"spark.app.name": "egh-inject-1"}) == []
    p = PAYLOADS_BY_ID["spark-conf-in-username"]
    sent = {"KERNEL_USERNAME": p.value}
    seen = Seen(201, arrived={"KERNEL_USERNAME": p.value.encode()}, spark_conf={SPARK_MARK: "true"})
    ok, why = judge(p, sent, seen, CANARY)
    assert not ok and "Spark conf gained an option" in why


def test_pod_that_gained_fields_or_a_rendered_name():
    sent = {"KERNEL_WORKING_DIR": "x", "KERNEL_POD_NAME": "{{ 7 * 7 }}"}
    clean = {
        "metadata": {"name": "egh-inject-abc"},
        "spec": {
            "containers": [
                {"workingDir": "x", "env": [{"name": "KERNEL_WORKING_DIR", "value": "x"}]}
            ]
        },
    }
    assert pod_injected(clean, sent) == []
    bad = {
        "metadata": {"name": "49-abc", "labels": {"egh_injected": "yes"}},
        "spec": {
            "containers": [
                {
                    "securityContext": {"privileged": True},
                    "env": [{"name": "KERNEL_WORKING_DIR", "value": "y"}],
                }
            ]
        },
    }
    problems = pod_injected(bad, sent)
    assert any("egh_injected" in p for p in problems)
    assert any("privileged" in p for p in problems)
    assert any("Jinja rendered" in p for p in problems)
    assert any("KERNEL_WORKING_DIR is 'y'" in p for p in problems)


def test_a_kernel_id_holding_49_is_no_rendered_jinja():
    pod = {"metadata": {"name": "egh-inject-0e49a1"}, "spec": {"containers": [{"env": []}]}}
    assert pod_injected(pod, {"KERNEL_POD_NAME": "{{ 7 * 7 }}"}) == []


def test_a_working_directory_stays_absolute():
    p = PAYLOADS_BY_ID["shell-subst"]
    assert p.text(CANARY, "KERNEL_WORKING_DIR") == f"/tmp/egh-wd/$(touch {CANARY})"
    assert p.text(CANARY) == f"$(touch {CANARY})"
