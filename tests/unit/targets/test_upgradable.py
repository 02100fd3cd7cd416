"""What `eg-harness upgrade` reads from a kind's upgrade class (eg_harness.targets.upgradable):
the release pairs, the steps and the default suites live on the class the registry names, so
the command has no table or branch per kind (no cluster, no processes: class attributes and
classmethods only)."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest
from eg_harness.cli import upgrade as cli
from eg_harness.errors import ConfigError
from eg_harness.runtime import versions
from eg_harness.targets.local.target import LocalTarget
from eg_harness.targets.node.upgrade import NODE_HUB_VERSIONS, NodeUpgradeTarget, node_versions
from eg_harness.targets.spec import UPGRADABLE, provider
from eg_harness.targets.upgradable import Upgradable
from eg_harness.upgrade.journey import STEP_NEEDS


@pytest.mark.parametrize("kind", UPGRADABLE)
def test_each_upgradable_kinds_class_says_its_steps_and_suites(kind):
    cls = provider(kind, upgrade=True)
    assert issubclass(cls, Upgradable)
    assert cls.default_upgrade_steps, "no default step: an upgrade that upgrades nothing"
    assert set(cls.default_upgrade_steps) <= set(cls.upgrade_steps)
    for step in cls.upgrade_steps:
        need = STEP_NEEDS[step]  # a step the journey does not know is a KeyError here
        assert need is None or issubclass(cls, need), f"{kind} offers {step} without {need}"
    assert cli.suites_for(cls.default_upgrade_suite), "the default suite selects nothing"


@pytest.mark.parametrize("kind", UPGRADABLE)
def test_the_help_names_each_kinds_defaults(kind):
    """--steps' and --suite's help are literal (the parser does not import the node target):
    they must say what the classes do."""
    sub = argparse.ArgumentParser(prog="eg-harness").add_subparsers()
    cli.add_parsers(sub)
    helps = {action.dest: action.help for action in sub.choices["upgrade"]._actions}
    cls = provider(kind, upgrade=True)
    assert f"{kind}: {','.join(cls.default_upgrade_steps)}" in helps["steps"]
    assert f"{kind}: {cls.default_upgrade_suite}" in helps["suite"]


def test_local_releases_are_any_two_component_sets():
    a, b = LocalTarget.upgrade_releases(None, None)
    assert (a, b) == (versions.default_from(), versions.current())
    a, b = LocalTarget.upgrade_releases("hub=5.6.0", "gateway=3.2.3")
    assert a == replace(versions.default_from(), hub="5.6.0")
    assert b == replace(versions.current(), gateway="3.2.3")


def test_node_releases_are_two_gateway_releases_over_the_fixed_hub_side():
    a, b = NodeUpgradeTarget.upgrade_releases("gateway=3.2.3", "gateway=3.3.0")
    assert (a, b) == (node_versions("3.2.3"), node_versions("3.3.0"))
    a, b = NodeUpgradeTarget.upgrade_releases(None, None)
    assert (a.gateway, b.gateway) == (versions.DEFAULT_FROM["gateway"], versions.current().gateway)
    assert b.hub == NODE_HUB_VERSIONS["hub"]


@pytest.mark.parametrize(
    ("origin", "dest", "words"),
    [
        ("gateway=3.2.3,hub=5.5.4", "gateway=3.3.0", "--from .*gateway only"),
        ("gateway=3.2.3", "gateway=3.3.0,jupyterlab=4.0.0", "--to .*gateway only"),
        ("gateway=3.3.0", "gateway=3.3.0", "both EG 3.3.0"),
        ("gateway=3.0.0", "gateway=3.3.0", "eg-releases.json"),
    ],
)
def test_node_refuses_what_it_cannot_upgrade_between(origin, dest, words):
    with pytest.raises(ConfigError, match=words):
        NodeUpgradeTarget.upgrade_releases(origin, dest)


def test_only_the_node_hub_refuses_cleanup_servers():
    assert LocalTarget.refuses_cleanup_servers is None
    assert "cleanup_servers=False" in (NodeUpgradeTarget.refuses_cleanup_servers or "")
