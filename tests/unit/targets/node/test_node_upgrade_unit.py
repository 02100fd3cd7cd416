"""The node target's releases for an upgrade, and the images that follow the sdist's release."""

from __future__ import annotations

import json

import pytest
from eg_harness import resources
from eg_harness.errors import ConfigError
from eg_harness.runtime import versions
from eg_harness.targets.kind.pins import load_pins as load_kind_pins
from eg_harness.targets.node import images
from eg_harness.targets.node import upgrade as node_upgrade


def test_release_a_pins_its_own_sdist_and_keeps_the_chart_path():
    kind = load_kind_pins()
    a = node_upgrade.release_pins("3.2.3")
    assert a.eg["version"] == "3.2.3"
    assert a.eg["sdist"] == "jupyter_enterprise_gateway-3.2.3.tar.gz"
    assert len(a.eg["sdist_sha256"]) == 64 and a.eg["sdist_sha256"] != kind.eg["sdist_sha256"]
    assert a.eg["chart_path"] == kind.eg["chart_path"]
    assert node_upgrade.release_pins(kind.eg["version"]) is kind


def test_unknown_release_names_the_file_to_add_it_to():
    with pytest.raises(ConfigError, match="clusters/node/eg-releases.json"):
        node_upgrade.release_pins("9.9.9")


def test_every_release_has_a_gateway_lock_for_its_images():
    for version in node_upgrade.known_releases():
        at = versions.Versions(**{**versions.current().as_dict(), "gateway": version})
        lock = versions.committed_lock("gateway", at)
        assert lock.exists(), f"no committed gateway lock for EG {version}"
        assert f"jupyter-enterprise-gateway=={version}" in lock.read_text().replace("_", "-")


def test_todays_release_stages_as_before_another_takes_its_own_lock(tmp_path, monkeypatch):
    monkeypatch.setattr(images, "node_dir", lambda: tmp_path)
    assert images.gateway_constraints(versions.current().gateway) == images.CONSTRAINTS
    assert images.release_image_pins(versions.current().gateway) == {}
    derived = images.gateway_constraints("3.2.3")
    lock = (resources.LOCAL_CLUSTER / "gateway-3.2.3.lock").read_text()
    text = derived.read_text()
    # 3.2.3's lock, with the client that still has V1Subject (and the urllib3 it needs).
    assert "kubernetes==37.0.2" in lock and "kubernetes==28.1.0" in text
    assert "urllib3==1.26.20" in text and "urllib3==1.26.20" not in lock
    assert "jupyter-enterprise-gateway==3.2.3" in text
    assert len(text.splitlines()) == len(lock.splitlines())  # replaced in place, not appended
    assert images.gateway_constraints("3.2.3") == derived  # the same pins: the same file


def test_pin_eg_sets_the_gateway_pin_and_leaves_other_files(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("# comment\njupyter_enterprise_gateway==3.3.0\n")
    images.pin_eg(req, "3.2.3")
    assert req.read_text() == "# comment\njupyter_enterprise_gateway==3.2.3\n"
    other = tmp_path / "other.txt"
    other.write_text("ipykernel==6.29.5\n")
    images.pin_eg(other, "3.2.3")
    assert other.read_text() == "ipykernel==6.29.5\n"


def test_node_hub_versions_are_the_hub_catalogues():
    text = json.dumps(json.loads((resources.CLUSTERS / "node" / "hub" / "images.json").read_text()))
    for key, version in node_upgrade.NODE_HUB_VERSIONS.items():
        assert version in text, f"{key} {version} is not what clusters/node/hub/images.json builds"
