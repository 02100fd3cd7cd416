"""The node target's seeded faults that change files and values (eg_harness.targets.node.seeded):
each applies exactly what its catalogue record says, and a record that no longer matches the
deployment is an error naming the record, never a silent no-op."""

from __future__ import annotations

import pytest
from eg_harness.errors import ConfigError
from eg_harness.targets.faults import FAULTS, KernelspecFileDrop
from eg_harness.targets.node import hub as node_hub
from eg_harness.targets.node import seeded

LAUNCHER = """\
                memory_request = requests.get("memory")
                if memory_request:
                    spark_resources += (
                        f"--conf spark.driver.memory={memory_request} "
                        f"--conf spark.executor.memory={memory_request} "
                    )
                memory_limit = limits.get("memory")
                if memory_limit:
                    spark_resources += (
                        f"--conf spark.driver.memory={memory_limit} "
                        f"--conf spark.executor.memory={memory_limit} "
                    )
"""


def _context(tmp_path, text=LAUNCHER):
    path = tmp_path / "kernels" / "spark_python_kubernetes" / "scripts" / "launch_kubernetes.py"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return path


def test_spark_fault_drops_only_the_driver_memory(tmp_path):
    path = _context(tmp_path)
    fault = FAULTS["spark_kernelspec_drops_driver_memory"]
    seeded.drop_kernelspec_lines(tmp_path, fault.kernelspec_file_drops)
    text = path.read_text()
    assert "spark.driver.memory" not in text
    assert text.count("spark.executor.memory") == 2
    compile(f"if True:\n{text}", "launch_kubernetes.py", "exec")  # still Python


def test_a_launcher_that_changed_upstream_is_an_error(tmp_path):
    _context(tmp_path, LAUNCHER.replace("spark.driver.memory={memory_limit}", "x"))
    fault = FAULTS["spark_kernelspec_drops_driver_memory"]
    with pytest.raises(ConfigError, match="on 0 lines, not one"):
        seeded.drop_kernelspec_lines(tmp_path, fault.kernelspec_file_drops)


def test_a_missing_kernelspec_file_is_an_error(tmp_path):
    drop = KernelspecFileDrop(path="nope/run.sh", lines=("x",))
    with pytest.raises(ConfigError, match="no kernels/nope/run.sh"):
        seeded.drop_kernelspec_lines(tmp_path, [drop])


def test_hub_fault_removes_the_gateway_url_from_the_seeds_profile():
    values = node_hub.hub_values(
        node_hub.node_hub_overlay(api_token="a", gateway_token="g", singleuser_ref="img:1")
    )
    keys = FAULTS["hub_profile_no_gateway_url"].hub_profile_unsets
    out = seeded.unset_profile_keys(values, keys, node_hub.PROFILE)
    profile = next(p for p in out["singleuser"]["profileList"] if p["slug"] == node_hub.PROFILE)
    assert "jupyter_gateway_url" not in profile.get("kubespawner_override", {})
    before = next(p for p in values["singleuser"]["profileList"] if p["slug"] == node_hub.PROFILE)
    assert "jupyter_gateway_url" in before["kubespawner_override"], "the input was changed"
    assert profile["profile_options"] == before["profile_options"]


def test_hub_fault_on_values_without_the_key_is_an_error():
    values = {"singleuser": {"profileList": [{"slug": "p", "kubespawner_override": {}}]}}
    with pytest.raises(ConfigError, match="has no kubespawner_override key 'jupyter_gateway_url'"):
        seeded.unset_profile_keys(values, ("jupyter_gateway_url",), "p")
    with pytest.raises(ConfigError, match="no profile 'other'"):
        seeded.unset_profile_keys(values, ("x",), "other")


def test_cleanup_fault_takes_delete_from_namespaces_only():
    rules = [
        {
            "apiGroups": [""],
            "resources": ["pods", "namespaces", "services"],
            "verbs": ["get", "watch", "list", "create", "delete"],
        }
    ]
    out = rules
    for right in FAULTS["gateway_cannot_delete_kernel_namespaces"].gateway_role_revokes:
        out = seeded.revoke(out, right)

    def may(verb, resource):
        return any(resource in r["resources"] and verb in r["verbs"] for r in out)

    assert not may("delete", "namespaces")
    # EG binds kernel-controller (which grants delete pods) in each kernel's namespace: RBAC
    # lets it only while EG holds those rights itself, so pods keep delete.
    assert may("delete", "pods") and may("create", "namespaces") and may("delete", "services")


def _hub_pod(uid: str, ready: str = "True", going: bool = False) -> dict:
    meta = {"uid": uid, **({"deletionTimestamp": "2026-12-06T12:56:00Z"} if going else {})}
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def test_the_hub_is_back_only_as_one_new_ready_pod():
    assert seeded.hub_restarted([_hub_pod("new")], {"old"})
    assert not seeded.hub_restarted([], {"old"})  # recreating: the old one gone, none yet
    assert not seeded.hub_restarted([_hub_pod("old")], {"old"})  # restart not begun
    assert not seeded.hub_restarted([_hub_pod("new", ready="False")], {"old"})
    assert not seeded.hub_restarted([_hub_pod("new", going=True)], {"old"})
    assert not seeded.hub_restarted([_hub_pod("old", going=True), _hub_pod("new")], {"old"})
