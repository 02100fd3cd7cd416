"""A hub's pages (login, spawn form, Launcher card) are the target's configuration, so the
browser journey never asks which target it runs on."""

from dataclasses import asdict

import pytest
from eg_harness.errors import ConfigError
from eg_harness.runtime.secrets import redact
from eg_harness.targets.endpoints import SEED_FORM_OPTIONS, HubEndpoint, HubPages
from eg_harness.targets.existing.config import load_existing_config
from eg_harness.targets.existing.target import ExistingTarget

GW = "gateway: {url: http://gw}\n"


def load(tmp_path, hub_extra: str = "", environ=None):
    path = tmp_path / "target.yaml"
    path.write_text(GW + f"hub:\n  url: http://h\n  api_token: t-hub-token-1\n{hub_extra}")
    return load_existing_config(path, environ=environ or {})


def test_a_hub_without_pages_is_the_seeds(tmp_path):
    pages = load(tmp_path).hub.pages
    assert pages.login == "form"
    assert pages.password is None
    assert pages.form_options == SEED_FORM_OPTIONS
    assert list(SEED_FORM_OPTIONS) == ["image", "driver_memory", "driver_cores"]
    assert pages.free_text_option == "driver_memory"
    assert pages.kernelspec_display_name is None


def test_pages_reach_the_targets_hub_and_the_password_is_redacted(tmp_path, monkeypatch):
    monkeypatch.setenv("HUB_PW", "pw-of-the-test-hub-99")
    path = tmp_path / "target.yaml"
    path.write_text(
        GW + "hub:\n  url: http://h\n  api_token: t-hub-token-1\n  pages:\n"
        "    password: ${HUB_PW}\n    form_options: {size: Size}\n    free_text_option: ''\n"
        "    kernelspec_display_name: Python on Kubernetes\n"
    )
    target = ExistingTarget(str(path))
    assert target.hub.pages == HubPages(
        login="form",
        password="pw-of-the-test-hub-99",
        form_options={"size": "Size"},
        free_text_option=None,  # empty: the form has no free-text option
        kernelspec_display_name="Python on Kubernetes",
    )
    assert "pw-of-the-test-hub-99" not in redact("typed pw-of-the-test-hub-99")
    assert "pw-of-the-test-hub-99" not in repr(target.config)


def test_an_unknown_login_method_is_one_line_naming_the_choices(tmp_path):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "  pages: {login: oauth}\n")
    message = str(info.value)
    assert "\n" not in message and "hub.pages.login" in message
    assert "'form'" in message and "'none'" in message, message


def test_an_unknown_pages_key_names_the_allowed_ones(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown key 'hub.pages.form_option'.*form_options"):
        load(tmp_path, "  pages: {form_option: {a: A}}\n")


def test_pages_survive_a_parallel_runs_handoff():
    hub = HubEndpoint(
        "http://h", "t", pages=HubPages(form_options={"a": "A"}, free_text_option=None)
    )
    again = HubEndpoint(**asdict(hub))
    assert isinstance(again.pages, HubPages)
    assert again == hub
