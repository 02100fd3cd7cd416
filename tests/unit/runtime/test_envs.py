"""Unit tests for harness.envs: environment cache keys and the cache directory."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from eg_harness.runtime import envs


@pytest.fixture
def lockfile(tmp_path: Path) -> Path:
    path = tmp_path / "gateway.lock"
    path.write_text("jupyter-enterprise-gateway==3.3.0\njupyter-server==1.24.0\n")
    return path


def test_env_key_is_stable_for_the_same_inputs(lockfile: Path, tmp_path: Path):
    a = envs.env_key(lockfile, "/usr/bin/python3.11")
    b = envs.env_key(lockfile, "/usr/bin/python3.11")
    assert a == b
    assert re.fullmatch(r"[0-9a-f]{12}", a)
    # Same content at another path: same key (the pins decide, not where they live).
    copy = tmp_path / "elsewhere" / "other-name.lock"
    copy.parent.mkdir()
    copy.write_bytes(lockfile.read_bytes())
    assert envs.env_key(copy, "/usr/bin/python3.11") == a


def test_env_key_changes_with_the_lock_file_content(lockfile: Path):
    before = envs.env_key(lockfile, "/usr/bin/python3.11")
    lockfile.write_text("jupyter-enterprise-gateway==3.3.1\njupyter-server==1.24.0\n")
    after = envs.env_key(lockfile, "/usr/bin/python3.11")
    assert after != before
    # A one-byte change (trailing newline) is a change too.
    lockfile.write_text(lockfile.read_text() + "\n")
    assert envs.env_key(lockfile, "/usr/bin/python3.11") not in (before, after)


def test_env_key_changes_with_the_python(lockfile: Path):
    keys = {
        envs.env_key(lockfile, "/usr/bin/python3.11"),
        envs.env_key(lockfile, "/usr/bin/python3.10"),
        envs.env_key(lockfile, "/opt/pyenv/versions/3.11.9/bin/python"),
    }
    assert len(keys) == 3


def test_env_key_changes_with_extra_and_layout(lockfile: Path, monkeypatch):
    base = envs.env_key(lockfile, "py")
    assert envs.env_key(lockfile, "py", extra="spark") != base
    monkeypatch.setattr(envs, "ENV_LAYOUT", envs.ENV_LAYOUT + "-next")
    assert envs.env_key(lockfile, "py") != base


def test_env_key_needs_the_lock_file(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        envs.env_key(tmp_path / "missing.lock", "py")


def test_cache_dir_honours_eg_harness_cache(tmp_path: Path, monkeypatch):
    target = tmp_path / "cache" / "nested"
    monkeypatch.setenv("EG_HARNESS_CACHE", str(target))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    got = envs.cache_dir()
    assert got == target
    assert target.is_dir()  # created on demand
    assert not (tmp_path / "xdg").exists()


def test_cache_dir_falls_back_to_xdg_then_home(tmp_path: Path, monkeypatch):
    monkeypatch.delenv("EG_HARNESS_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert envs.cache_dir() == tmp_path / "xdg" / "eg-harness"
    assert (tmp_path / "xdg" / "eg-harness").is_dir()

    monkeypatch.setenv("EG_HARNESS_CACHE", "")  # empty means unset
    assert envs.cache_dir() == tmp_path / "xdg" / "eg-harness"

    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert envs.cache_dir() == tmp_path / "home" / ".cache" / "eg-harness"
    assert (tmp_path / "home" / ".cache" / "eg-harness").is_dir()


def test_ensure_python_env_reuses_a_completed_env_without_building(
    lockfile: Path, tmp_path: Path, monkeypatch
):
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EG_HARNESS_PYTHON", "/fake/python3.11")
    key = envs.env_key(lockfile, "/fake/python3.11")
    path = tmp_path / "cache" / "envs" / f"gw-{key}"
    path.mkdir(parents=True)
    (path / ".eg-harness-complete").write_text("{}")

    def no_build(*a, **k):
        raise AssertionError("a cached environment must not be rebuilt")

    monkeypatch.setattr(envs, "uv_bin", no_build)
    monkeypatch.setattr(envs, "_run", no_build)
    env = envs.ensure_python_env("gw", lockfile, progress=no_build)
    assert env.path == path
    assert env.python == str(path / "bin" / "python")
    assert env.bin("jupyter") == os.path.join(str(path), "bin", "jupyter")


def test_ensure_python_env_missing_lockfile(tmp_path: Path):
    with pytest.raises(envs.TargetUnavailable, match="missing"):
        envs.ensure_python_env("gw", tmp_path / "nope.lock", progress=lambda _: None)
