"""report.html as a real browser shows it: a headless Chromium screenshot and the DOM after
the page's script ran. Used by ``eg-harness report --screenshot`` and the report selftest.

Chromium is optional (``apt-get install chromium``); without it these raise ``ConfigError``
naming the fix. Every flag that would make Chromium reach the network or keep a profile is
off, and the profile lives in a temporary directory removed afterwards.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from eg_harness.errors import ConfigError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")
TIMEOUT_S = 60


def find_browser() -> str | None:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(page: Path, *extra: str) -> subprocess.CompletedProcess:
    browser = find_browser()
    if browser is None:
        raise ConfigError("no chromium found: install it (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="egh-chromium-") as profile:
        args = [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers has no user namespace for the sandbox
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *extra,
            Path(page).resolve().as_uri(),
        ]
        try:
            return subprocess.run(
                args, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise ConfigError(f"chromium did not finish within {TIMEOUT_S} s") from exc


def screenshot(page: Path, out: Path, *, width: int = 1280, height: int = 2400) -> Path:
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    done = _run(page, f"--screenshot={out}", f"--window-size={width},{height}")
    if not out.is_file() or out.stat().st_size == 0:
        tail = (done.stderr or "").strip().splitlines()[-3:]
        raise ConfigError(f"chromium wrote no screenshot ({' | '.join(tail) or 'no output'})")
    return out


def dump_dom(page: Path) -> str:
    """The page's DOM after its scripts ran (what ``--dump-dom`` prints)."""
    done = _run(page, "--dump-dom")
    if done.returncode != 0 or "<html" not in done.stdout:
        raise ConfigError(f"chromium could not load {page} (exit {done.returncode})")
    return done.stdout
