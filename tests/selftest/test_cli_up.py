"""`eg-harness up` keeps a usable stack until Ctrl-C; tokens go to a 0600 file, never the screen."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import threading

import httpx
import pytest
from eg_harness.runtime.waits import wait_for
from selftest_tools import REPO, _env, harness_cmd

pytestmark = pytest.mark.slow


def test_up_serves_until_ctrl_c(tmp_path):
    state = tmp_path / "up.json"
    proc = subprocess.Popen(
        [*harness_cmd(), "up", "--state-file", str(state)],
        cwd=REPO,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
    try:
        wait_for(
            "`up` to say the stack is ready",
            lambda: any("Ctrl-C" in ln for ln in lines),
            120,
            detail=lambda: "".join(lines)[-1500:],
        )
        assert stat.S_IMODE(state.stat().st_mode) == 0o600
        doc = json.loads(state.read_text())
        gw, hub = doc["gateway"], doc["hub"]
        r = httpx.get(f"{gw['url']}/api", headers={"Authorization": f"token {gw['auth_token']}"})
        assert r.status_code == 200 and r.json()["gateway_version"] == "3.3.0"
        r = httpx.get(
            f"{hub['url']}/hub/api/users", headers={"Authorization": f"token {hub['api_token']}"}
        )
        assert r.status_code == 200
        run_id = doc["run_id"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, "".join(lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    out = "".join(lines)
    assert gw["auth_token"] not in out and hub["api_token"] not in out, "a token was printed"
    assert "nothing left behind" in out, out
    assert not state.exists(), "the state file with tokens outlived the stack"
    from selftest_tools import leftovers

    assert not leftovers(run_id)
