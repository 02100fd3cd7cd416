"""The harness as operators and CI images get it: a wheel, installed, run from anywhere.

Builds the wheel from this checkout, installs it into a fresh venv (pinned by
requirements.lock, from uv's cache when it can), and runs `eg-harness run --suite auth` from
an empty directory: the scenarios, cluster definitions and pytest set-up must all come from
the installed package, and the report must land under that directory.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from selftest_tools import REPO, _env

pytestmark = pytest.mark.slow

UV = Path(sys.executable).parent / "uv"


def _uv(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(UV), *args], capture_output=True, text=True, timeout=timeout, env=_env()
    )


def test_installed_wheel_runs_auth_from_an_empty_directory(tmp_path):
    dist, venv, work = tmp_path / "dist", tmp_path / "venv", tmp_path / "empty"
    work.mkdir()
    built = _uv("build", "--wheel", "-o", str(dist), str(REPO))
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = dist.glob("eg_harness-*.whl")
    made = _uv("venv", "--python", sys.executable, str(venv))
    assert made.returncode == 0, made.stderr[-2000:]
    install = ["pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)]
    install += ["-c", str(REPO / "requirements.lock")]
    done = _uv(*install, "--offline")
    if done.returncode != 0:  # something not in uv's cache yet: allow the index
        done = _uv(*install)
    assert done.returncode == 0, done.stderr[-2000:]

    proc = subprocess.run(
        [str(venv / "bin" / "eg-harness"), "run", "--suite", "auth", "--run-id", "packaged"],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=900,
        env=_env(),
    )
    explain = f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
    assert proc.returncode == 0, explain
    report = work / "reports" / "packaged"
    for name in ("report.html", "results.json", "junit.xml"):
        assert (report / name).is_file(), f"{name} missing in {report}: {explain}"
    assert str(venv) in proc.stdout, "the scenarios did not run from the installed package"
