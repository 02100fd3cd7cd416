"""The browser suite's fixtures: one headless Chromium per module (it starts in a second or two,
a context per test keeps users apart), skipped with the reason where no browser is installed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from eg_harness.browser import chromium
from eg_harness.browser.lab import LabJourney
from eg_harness.fixtures.collector import state_of
from eg_harness.runtime.secrets import redact
from eg_harness.targets.endpoints import HubPages


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright, headless, a fresh profile; closed after the
    module."""
    reason = chromium.unavailable()
    if reason:
        pytest.skip(reason)
    with chromium.playwright() as pw:
        instance = chromium.launch(pw)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture
def page(browser):
    """A page in a context of its own (cookies, storage): one hub user's browser."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        yield context.new_page()
    finally:
        context.close()


@pytest.fixture
def hub_pages(target) -> HubPages:
    """How this target's hub meets a user (targets/endpoints.py HubPages: login, spawn form,
    Launcher card), from its configuration; skipped with the reason where its login cannot be
    driven headless."""
    if target.hub is None:
        pytest.skip(target.no_hub_reason or "the target has no hub")
    pages = target.hub.pages
    if pages.login != "form":
        pytest.skip(
            f"the hub's login page is not a user-name form (hub.pages.login: {pages.login}): "
            "a headless browser cannot log in; set login: form where the authenticator "
            "takes a name and password"
        )
    return pages


@pytest.fixture
def save_diagnostics(request: pytest.FixtureRequest):
    """save_diagnostics(journey) -> the files written: a failed journey's screenshot and
    console log (redacted) in the report's diagnostics dir, named after the test and step."""
    return lambda journey: _save(request, journey)


def _save(request: pytest.FixtureRequest, journey: LabJourney) -> list[Path]:
    report_dir = state_of(request.config).report_dir
    if report_dir is None:
        return []
    diag = report_dir / "diagnostics"
    diag.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[^\w.-]+", "-", f"browser-{request.node.name}-{journey.step}").strip("-")
    shot, log = diag / f"{stem}.png", diag / f"{stem}.console.log"
    try:
        journey.page.screenshot(path=str(shot), full_page=True)
    except Exception as exc:  # noqa: BLE001 - a dead page still has its console log
        journey.log.console.append(f"(no screenshot: {type(exc).__name__}: {exc})")
        shot = None
    log.write_text(redact(f"url: {journey.page.url}\n") + journey.log.text())
    return [p for p in (shot, log) if p is not None]
