"""`eg-harness upgrade --target node`: version sets, steps and refusals (no cluster)."""

from __future__ import annotations

import pytest
from eg_harness.cli import upgrade as cli
from eg_harness.errors import ConfigError
from eg_harness.targets.node import upgrade as node_upgrade


def test_bare_versions_name_the_gateway_over_the_node_hub_side():
    a, b = cli.version_sets("node", "3.2.3", "3.3.0")
    assert a == node_upgrade.node_versions("3.2.3")
    assert b.gateway == "3.3.0" and b.hub == node_upgrade.NODE_HUB_VERSIONS["hub"]


def test_node_defaults_are_the_previous_minor_to_todays_pin():
    a, b = cli.version_sets("node", None, None)
    assert (a.gateway, b.gateway) == ("3.2.3", "3.3.0")


def test_node_refuses_hub_versions_same_release_and_unknown_release():
    with pytest.raises(ConfigError, match="gateway only"):
        cli.version_sets("node", "gateway=3.2.3,hub=5.5.4", "3.3.0")
    with pytest.raises(ConfigError, match="both EG 3.3.0"):
        cli.version_sets("node", "3.3.0", "3.3.0")
    with pytest.raises(ConfigError, match="eg-releases.json"):
        cli.version_sets("node", "3.0.0", "3.3.0")


def test_local_keeps_its_component_sets():
    a, b = cli.version_sets("local", "3.2.3", None)
    assert a.gateway == "3.2.3" and a.hub == "5.5.4"  # the local default A's hub
    assert b.gateway == "3.3.0"


def test_steps_per_target():
    assert cli.parse_steps("node", None) == ("gateway-chart",)
    assert cli.parse_steps("local", None) == (
        "hub",
        "gateway",
        "gateway-persistent",
        "user-servers",
    )
    with pytest.raises(ConfigError, match="on the node target"):
        cli.parse_steps("node", "hub")
    with pytest.raises(ConfigError, match="on the local target"):
        cli.parse_steps("local", "gateway-chart")
