"""What the journey clicks on a spawn form follows the target's hub pages and the choice its hub
scenarios spawn with (hub.user_options), never a list of the seed's."""

from __future__ import annotations

from types import SimpleNamespace

from eg_harness.browser import lab
from eg_harness.targets.endpoints import HubPages


def test_the_seeds_hub_types_the_default_free_text_and_keeps_listed_defaults():
    choice = lab.Choice.of({}, HubPages())
    assert choice == lab.Choice(listed={}, free_text=lab.FREE_TEXT_DEFAULT)


def test_the_node_hubs_options_are_what_the_user_picks():
    options = {"driver_memory--unlisted-choice": "3G", "driver_cores": 2, "other": "x"}
    choice = lab.Choice.of(options, HubPages())
    assert choice.free_text == "3G"
    assert choice.listed == {"driver_cores": "2"}  # only options the form offers


def test_a_listed_value_of_the_free_text_option_is_typed_not_picked():
    choice = lab.Choice.of({"driver_memory": "2g"}, HubPages())
    assert choice.listed == {} and choice.free_text == lab.FREE_TEXT_DEFAULT


def test_a_form_without_free_text_types_nothing():
    pages = HubPages(form_options={"size": "Size"}, free_text_option=None)
    choice = lab.Choice.of({"size": "large", "size--unlisted-choice": "9"}, pages)
    assert choice == lab.Choice(listed={"size": "large"}, free_text=None)


def test_a_step_already_named_is_not_named_twice():
    journey = SimpleNamespace(step="stop_server")
    message = lab.describe_failure(journey, AssertionError("browser step 'stop_server': left k1"))
    assert message == "browser step 'stop_server': left k1"
