"""The registry's upgrade classes: `make_target(spec, upgrade=True)` is how `eg-harness upgrade`
gets its stack at A, so a kind's upgrade route is one PROVIDERS entry, not a branch in the
command (no cluster, no processes: only construction)."""

from __future__ import annotations

import pytest
from eg_harness.errors import ConfigError
from eg_harness.runtime import versions
from eg_harness.targets import PROVIDERS, TargetSpec, make_target, provider
from eg_harness.targets.abilities import ComponentControl
from eg_harness.targets.chartupgrade import ChartUpgrade
from eg_harness.targets.local.target import LocalTarget
from eg_harness.targets.node.target import NodeTarget
from eg_harness.targets.node.upgrade import NodeUpgradeTarget, node_versions
from eg_harness.targets.spec import UPGRADABLE
from eg_harness.upgrade.journey import STEP_NEEDS


def test_upgradable_kinds_are_the_entries_that_name_an_upgrade_class():
    assert UPGRADABLE == ("local", "node")
    assert provider("local", upgrade=True) is LocalTarget
    assert provider("node", upgrade=True) is NodeUpgradeTarget
    # Without `upgrade` the registry hands back the run's provider, as before.
    assert provider("node") is NodeTarget


@pytest.mark.parametrize("kind", UPGRADABLE)
def test_each_upgrade_class_is_its_kind_with_an_ability_a_step_asks_for(kind):
    cls = provider(kind, upgrade=True)
    assert issubclass(cls, provider(kind))
    asked = {need for need in STEP_NEEDS.values() if need is not None}
    assert any(issubclass(cls, need) for need in asked), f"{cls.__name__} can take no step"


@pytest.mark.parametrize("kind", [k for k in PROVIDERS if k not in UPGRADABLE])
def test_a_kind_without_an_upgrade_class_is_refused_naming_the_choices(kind):
    with pytest.raises(ConfigError, match=f"--target {kind}: .*local, node"):
        provider(kind, upgrade=True)
    with pytest.raises(ConfigError, match="cannot upgrade"):
        make_target(TargetSpec(kind=kind), upgrade=True, versions=versions.current())


def test_node_upgrade_target_gets_the_specs_run_id_faults_and_release_a():
    spec = TargetSpec(kind="node", run_id="r-up", faults=("kernel_pod_no_memory_request",))
    target = make_target(
        spec,
        upgrade=True,
        versions=node_versions("3.2.3"),
        hub_settings={"cleanup_servers": False},  # the local stack's choice: not the node's
    )
    assert type(target) is NodeUpgradeTarget and isinstance(target, ChartUpgrade)
    assert target.run_id == "r-up"
    assert target.faults == ["kernel_pod_no_memory_request"]
    assert target.eg_version == "3.2.3"
    assert target.stack_versions == node_versions("3.2.3")


def test_node_upgrade_target_refuses_a_release_it_cannot_install():
    with pytest.raises(ConfigError, match="eg-releases.json"):
        make_target(TargetSpec(kind="node"), upgrade=True, versions=node_versions("3.0.0"))


def test_local_upgrade_target_is_the_local_stack_at_a_with_the_hub_settings():
    a = versions.default_from()
    target = make_target(
        TargetSpec(run_id="r-local-up"),
        upgrade=True,
        versions=a,
        hub_settings={"cleanup_servers": True},
    )
    assert type(target) is LocalTarget and isinstance(target, ComponentControl)
    assert target.run_id == "r-local-up"
    assert target.stack_versions == a
    assert target._hub_settings == {"cleanup_servers": True}
