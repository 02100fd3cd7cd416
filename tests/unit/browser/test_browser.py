"""The browser suite's pure parts: the spawn form it drives, what the page log keeps, the figures,
the refusing proxy's match, and the reason the suite skips."""

from __future__ import annotations

from types import SimpleNamespace

import jinja2
import pytest
import yaml
from eg_harness import resources
from eg_harness.browser import chromium, figures, lab
from eg_harness.targets.endpoints import HubPages
from eg_harness.targets.local.faultproxy import KERNELSPECS_LIST

FORM = resources.CLUSTERS / "kind" / "jupyterhub-profile" / "profile-form.html"
VALUES = resources.CLUSTERS / "kind" / "jupyterhub-profile" / "values.yaml"


def _profiles(hidden=()):
    """The seed's profile list as KubeSpawner hands it to the form (an unlisted_choice dict on
    every option), less `hidden` options."""
    profiles = yaml.safe_load(VALUES.read_text())["singleuser"]["profileList"]
    for p in profiles:
        options = p.get("profile_options") or {}
        for name in hidden:
            options.pop(name, None)
        for option in options.values():
            unlisted = option.setdefault("unlisted_choice", {})
            unlisted.setdefault("enabled", False)
            if unlisted["enabled"]:
                unlisted.setdefault("display_name_in_choices", "Other...")
    return profiles


def _render(profiles) -> str:
    return jinja2.Environment().from_string(FORM.read_text()).render(profile_list=profiles)


def test_the_form_offers_every_choice_the_journey_clicks_and_the_free_text():
    html = _render(_profiles())
    for name in HubPages().form_options:  # the seed's, as every target's hub.pages defaults
        assert f'id="profile-option-jupyter-gateway--{name}"' in html, name
    memory = html.split('id="profile-option-jupyter-gateway--driver_memory"')[1].split("</p>")[0]
    assert f'value="{lab.UNLISTED}"' in memory
    assert 'data-name="profile-option-jupyter-gateway--driver_memory--unlisted-choice"' in memory
    cores = html.split('id="profile-option-jupyter-gateway--driver_cores"')[1].split("</p>")[0]
    assert lab.UNLISTED not in cores  # no free text where the profile does not enable it


def test_a_hidden_option_is_not_in_the_form():
    html = _render(_profiles(hidden=("driver_memory",)))
    assert "driver_memory" not in html
    assert 'id="profile-option-jupyter-gateway--driver_cores"' in html


@pytest.mark.parametrize(
    ("head", "refused"),
    [
        (b"GET /api/kernelspecs HTTP/1.1\r\n", True),
        (b"GET /api/kernelspecs/ HTTP/1.1\r\n", True),
        (b"GET /api/kernelspecs?1796 HTTP/1.1\r\n", True),
        (b"GET /api/kernelspecs/python3 HTTP/1.1\r\n", False),
        (b"GET /kernelspecs/python3/logo-64x64.png HTTP/1.1\r\n", False),
        (b"POST /api/kernels HTTP/1.1\r\n", False),
    ],
)
def test_the_refusing_proxy_refuses_only_the_list(head, refused):
    assert bool(KERNELSPECS_LIST.match(head)) is refused


def _response(status, method, url):
    return SimpleNamespace(status=status, url=url, request=SimpleNamespace(method=method))


def test_the_page_log_keeps_server_errors_kernelspec_requests_and_kernel_ids():
    log = lab.PageLog()
    base = "http://h/user/u"
    log._response(_response(200, "GET", f"{base}/api/kernelspecs?17"))
    log._response(_response(500, "GET", f"{base}/api/kernelspecs/python3?18"))
    log._response(_response(500, "GET", f"{base}/api/resolvePath?path=%2F"))
    log._response(_response(404, "GET", f"{base}/api/contents/x"))
    kid = "0d36557f-5720-4533-b455-921caa924c4e"
    log._socket(SimpleNamespace(url=f"ws://h/user/u/api/kernels/{kid}/channels?session_id=s"))
    log._socket(SimpleNamespace(url=f"ws://h/user/u/api/kernels/{kid}/channels?session_id=s"))
    assert log.kernelspecs_lists == [200]
    assert log.single_kernelspec == ["500 GET /user/u/api/kernelspecs/python3"]
    assert log.server_errors == [
        "500 GET /user/u/api/kernelspecs/python3",
        "500 GET /user/u/api/resolvePath",
    ]
    assert log.kernel_sockets == [kid]


def test_figures_put_the_users_figures_beside_the_api_spans():
    metrics = [
        {"name": "browser_phase", "value": v, "attrs": {"phase": lab.OPEN_TO_IDLE, "ok": True}}
        for v in (1.0, 2.0, 3.0, 4.0, 36.0)
    ]
    failed = {"phase": "login", "ok": False}
    metrics.append({"name": "browser_phase", "value": 99.0, "attrs": failed})
    started = {"requested": 0.0, "first_execute_reply": 0.5}
    spans = [
        {"name": "kernel_start", "ok": True, "attrs": {"hop": "hub"}, "phases": started},
        {"name": "kernel_start", "ok": False, "attrs": {"hop": "hub"}, "phases": {}},
    ]
    figs = figures.figures({"metrics": metrics, "spans": spans})
    assert figs["user"][lab.OPEN_TO_IDLE] == {"n": 5, "p50": 3.0, "p95": 29.6}
    assert figs["user"][lab.EXECUTE_TO_OUTPUT]["n"] == 0
    assert "login" not in figs["phases"]  # a failed phase is no figure
    assert figs["api"] == {
        "kernel requested -> first execute reply (hub)": {"n": 1, "p50": 0.5, "p95": 0.5}
    }
    text = figures.render(figs)
    assert "p50    3.000 s  p95   29.600 s" in text and "execute_to_output" in text


def test_the_suite_says_why_it_cannot_run(monkeypatch):
    monkeypatch.setattr(chromium, "find_browser", lambda: None)
    assert "apt-get install -y chromium" in chromium.unavailable()


def test_a_failed_step_is_named_and_redacted():
    journey = SimpleNamespace(step="kernel_idle")
    message = lab.describe_failure(journey, TimeoutError("waited " + "x" * 2000))
    assert message.startswith("browser step 'kernel_idle': waited")
    assert len(message) < 800
