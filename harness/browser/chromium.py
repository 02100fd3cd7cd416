"""Chromium for Playwright: the system's browser (Debian's package), never a download.

Playwright's wheel ships its driver but no browser, and a run here cannot download one, so the
browser is the one `apt-get install chromium` put on PATH, launched by its path. Every flag that
makes Chromium reach the network on its own is off: on a closed network those connections are
refused and some of them stall start-up. Playwright gives each launch a fresh temporary profile
(user-data-dir) and removes it when the browser closes.
"""

from __future__ import annotations

import importlib.util

from eg_harness.report.browser import find_browser

ARGS = (
    "--no-sandbox",  # root in containers has no user namespace for the sandbox
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


def unavailable() -> str | None:
    """Why the browser suite cannot run here, with the fix; None when it can."""
    if importlib.util.find_spec("playwright") is None:
        return (
            "Playwright for Python is not installed: ./dev setup installs it "
            "(requirements.lock), or pip install 'eg-harness[browser]'"
        )
    if find_browser() is None:
        return "no Chromium on PATH: install it (apt-get install -y chromium)"
    return None


def playwright():
    """Playwright's sync context manager; imported here because the package is optional (the
    suite skips with `unavailable()`'s reason without it)."""
    return importlib.import_module("playwright.sync_api").sync_playwright()


def launch(playwright):
    """A headless Chromium from the system's package, with a fresh temporary profile."""
    return playwright.chromium.launch(
        executable_path=find_browser(), headless=True, args=list(ARGS)
    )
