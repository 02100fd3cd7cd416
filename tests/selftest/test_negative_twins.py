"""Negative twins: each seeded fault makes the scenario that owns it fail, naming the fault.

A suite that passes on a broken deployment is a defect of the harness; these runs prove the
suites are not blind to the misconfigurations users actually hit.
"""

from __future__ import annotations

import re

import httpx
import pytest
from eg_harness.browser import chromium
from eg_harness.targets.faults import LOCAL_FAULTS
from eg_harness.targets.local.target import LocalTarget

pytestmark = pytest.mark.slow

# (fault, suite) -> its catches, from the catalogue's local faults (the node target's twins run
# in tests/selftest/test_node_target.py, on its cluster). A fault's catches in one suite share
# one run (one stack, one pytest start): each catch's scenario must still fail with its own words.
# The gate's catch (gateway_slow_start) is proved by test_bench_gate.py, through `bench` and
# `gate` rather than a suite run. A catch on the "existing" target runs against the faulted
# local stack described by a target config, as an operator's deployment ("fault:suite@existing").
TWINS: dict[str, list] = {}
for fault in LOCAL_FAULTS:
    for catch in fault.caught_by:
        if catch.suite != "gate":
            at = "" if catch.target == "local" else f"@{catch.target}"
            TWINS.setdefault(f"{fault.name}:{catch.suite}{at}", []).append(catch)

KERNEL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


# Twins whose scenarios go straight at the gateway: their runs must not start a hub.
GATEWAY_ONLY = {"gateway_no_token:auth", "gateway_socket_timeout_zero:throughput"}


@pytest.mark.parametrize("twin", sorted(t for t in TWINS if "@" not in t))
def test_fault_is_caught_by_its_scenarios(twin, harness):
    fault, suite = twin.split(":")
    if suite == "browser" and chromium.unavailable():
        pytest.skip(chromium.unavailable())  # the suite would skip, proving nothing
    catches = TWINS[twin]
    select = " or ".join(f"({catch.select})" for catch in catches)
    run = harness(["run", "--suite", suite, "--local-fault", fault, "--", "-k", select])
    assert run.returncode == 1, run.explain()
    for catch in catches:
        owner = catch.test
        failed = [t for t in run.outcome(owner) if t["outcome"] == "failed"]
        assert failed, f"{owner} did not fail under {fault}: {run.outcome(owner)}"
        for test in failed:
            for word in catch.words:
                assert word in test["message"], (
                    f"{test['name']}: {word!r} not in {test['message']!r}"
                )
    assert fault in " ".join(run.results["target"]["faults"])
    # A serial run starts its hub when a test first asks for it (hub_provision), else never.
    hub_started = [s for s in run.results["spans"] if s["name"] == "hub_provision"]
    assert len(hub_started) == ("hub" in run.results["target"]["endpoints"]), hub_started
    if twin in GATEWAY_ONLY:
        assert not hub_started, f"{twin}: its scenarios never ask for the hub"
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])


# The culling an existing twin's deployment means to have, short so a twin is quick; its
# config states it, as an operator states theirs (a fault may break it: gateway_never_culls).
# Longer than a stopped server's window (its stop plus lifecycle.SETTLE_S): a 5 s culler once
# reaped hub_kills_servers' orphan inside that window, where it reads as deleted by the server.
TWIN_CULLING = {
    "RemoteMappingKernelManager.cull_idle_timeout": 20,
    "RemoteMappingKernelManager.cull_interval": 1,
}


def _existing_config(path, target: LocalTarget) -> str:
    """The faulted stack as an operator describes a deployment: URLs, tokens by environment,
    the gateway's culling and the hub's grace period as the deployment means them; no spark,
    no kubernetes, no destruction."""
    gw, hub = target.gateway, target.hub
    path.write_text(
        f"gateway:\n  url: {gw.url}\n  auth_token: ${{T_GW}}\n  kernelspec: python3\n"
        f"  cull_idle_timeout: {gw.cull_idle_timeout:g}\n  cull_interval: {gw.cull_interval:g}\n"
        f"hub:\n  url: {hub.url}\n  api_token: ${{T_HUB}}\n"
        f"  delete_grace_period: {hub.delete_grace_period:g}\n"
    )
    return str(path)


@pytest.mark.parametrize("twin", sorted(t for t in TWINS if t.endswith("@existing")))
def test_fault_is_caught_on_an_existing_deployment(twin, harness, tmp_path, monkeypatch):
    fault, rest = twin.split(":")
    suite = rest.removesuffix("@existing")
    catches = TWINS[twin]
    select = " or ".join(f"({catch.select})" for catch in catches)
    deployment = LocalTarget(faults=[fault], gateway_config=TWIN_CULLING)
    try:
        deployment.provision(lambda _m: None)
        monkeypatch.setenv("T_GW", deployment.gateway.token)
        monkeypatch.setenv("T_HUB", deployment.hub.api_token)
        cfg = _existing_config(tmp_path / "existing.yaml", deployment)
        run = harness(
            ["run", "--target", "existing", "--target-config", cfg, "--suite", suite]
            + ["--", "-k", select]
        )
        gw = deployment.gateway
        kernels = httpx.get(
            f"{gw.url}/api/kernels", headers={"Authorization": f"token {gw.token}"}, timeout=30
        ).json()
    finally:
        left = deployment.teardown()
    assert run.returncode == 1, run.explain()
    assert run.results["target"]["kind"] == "existing"
    for catch in catches:
        failed = [t for t in run.outcome(catch.test) if t["outcome"] == "failed"]
        assert failed, f"{catch.test} did not fail under {fault}: {run.outcome(catch.test)}"
        for test in failed:
            for word in catch.words:
                assert word in test["message"], (
                    f"{test['name']}: {word!r} not in {test['message']!r}"
                )
            # The kernels are named, so an operator can find them on the gateway.
            assert KERNEL_ID.search(test["message"]), test["message"]
    # The harness's own clean-up removed what the fault left, after recording it.
    assert kernels == [], kernels
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
    assert not any(left.values()), left
