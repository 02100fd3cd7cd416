"""The node hub's pages for the browser suite come from the deployment's own values (the
profile's options and which takes free text), not from a list kept beside them."""

from __future__ import annotations

import copy

import pytest
from eg_harness.errors import HarnessError
from eg_harness.targets.endpoints import SEED_FORM_OPTIONS
from eg_harness.targets.node import hub
from eg_harness.targets.node.target import target_config


def _values() -> dict:
    overlay = hub.node_hub_overlay(
        api_token="hub-token-1", gateway_token="gw-token-1", singleuser_ref="x/su:0123"
    )
    return hub.hub_values(overlay)


def test_the_pages_are_the_seeds_profile_options():
    pages = hub.hub_pages(_values())
    assert pages == {
        "login": "form",
        "form_options": {
            "image": "Spark driver image",
            "driver_memory": "Driver memory",
            "driver_cores": "Driver CPUs",
        },
        "free_text_option": "driver_memory",
    }


def test_a_profile_without_free_text_has_none_and_its_own_options():
    values = copy.deepcopy(_values())
    options = values["singleuser"]["profileList"][0]["profile_options"]
    del options["driver_memory"]["unlisted_choice"]
    options["gpu"] = {"display_name": "GPU", "choices": {}}
    pages = hub.hub_pages(values)
    assert pages["free_text_option"] is None
    assert list(pages["form_options"]) == ["image", "driver_memory", "driver_cores", "gpu"]
    assert pages["form_options"]["gpu"] == "GPU"


def test_a_missing_profile_is_named():
    with pytest.raises(HarnessError, match="no profile 'nope'"):
        hub.hub_pages(_values(), "nope")


def test_the_pages_reach_the_targets_hub_record():
    section = {
        "url": "http://10.0.0.1:80",
        "api_token": "hub-token-1",
        "profile": hub.PROFILE,
        "spawn_timeout": hub.SPAWN_TIMEOUT_S,
        "pages": hub.hub_pages(_values()),
    }
    config = target_config("http://10.0.0.2:8888", "gw", "/k", hub=section)
    assert config.hub.pages.form_options == SEED_FORM_OPTIONS
    assert config.hub.spawn_timeout == hub.SPAWN_TIMEOUT_S
