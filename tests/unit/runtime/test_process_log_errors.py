"""A component that dies names its reason even when other processes' chatter fills the tail."""

from __future__ import annotations

from eg_harness.runtime.processes import ManagedProcess


def test_errors_finds_the_reason_above_the_chatter(tmp_path):
    log = tmp_path / "hub.log"
    log.write_text(
        "[I 2026-11-26 13:23:40.001 JupyterHub app:1] starting\n"
        "[E 2026-11-26 13:23:41.002 JupyterHub app:2] Found database schema version abc != def\n"
        "    Back up your database and run `jupyterhub upgrade-db` to upgrade your database\n"
        + "".join(f"[I 2026-11-26 13:23:42.{i:03d} ServerApp] 101 GET /user/x\n" for i in range(40))
    )
    proc = ManagedProcess("hub", popen=None, log_path=log)  # type: ignore[arg-type]
    assert "upgrade-db" not in proc.tail(25)
    errors = proc.errors()
    assert "schema version abc != def" in errors and "jupyterhub upgrade-db" in errors
    assert "ServerApp" not in errors


def test_no_errors_no_text(tmp_path):
    log = tmp_path / "quiet.log"
    log.write_text("[I 2026-11-26 13:23:40.001 JupyterHub app:1] fine\n")
    assert ManagedProcess("hub", popen=None, log_path=log).errors() == ""  # type: ignore[arg-type]
