"""bench-ws replaces a kernel that never answered; only EG's port race, read from the gateway's
log, is a known defect beside the figures. Any other cause, or no log to read, fails the run."""

from __future__ import annotations

from eg_harness.load import bench_sessions, logscan
from eg_harness.report.bench_results import Sessions

DEAD, OTHER = "015eaa72-8411-489d-9d27-32ba719b2c5a", "7d1c0c55-3f0e-4a51-9c59-0a4f3c1d9e11"

# Shortened from a real EG 3.3 log (a bench-ws run in a loaded self-test).
LAUNCH = "[I 2026-12-05 22:03:35.034 EnterpriseGatewayApp] Local kernel launched on '192.0.2.2', "
RESTART = "[I 22:03:38] AsyncIOLoopKernelRestarter: restarting kernel (1/5), new random ports"
RACE_LOG = f"""{LAUNCH}pid: 21970, pgid: 21970, KernelID: {DEAD}, cmd: '[...]'
Traceback (most recent call last):
  File ".../ipykernel/kernelapp.py", line 336, in init_sockets
    self.stdin_port = self._bind_socket(self.stdin_socket, self.stdin_port)
zmq.error.ZMQError: Address already in use
{RESTART}
{LAUNCH}pid: 22058, pgid: 22058, KernelID: {DEAD}, cmd: '[...]'
zmq.error.ZMQError: Address already in use
{LAUNCH}pid: 22101, pgid: 22101, KernelID: {OTHER}, cmd: '[...]'
"""


def _doc(*replaced: dict) -> Sessions:
    return Sessions(sessions_requested=1, sessions_held=1, kernels_replaced=list(replaced))


def _failures(doc: Sessions) -> list[str]:
    return bench_sessions.failures(doc)


def _replaced(kid: str) -> dict:
    return {"kernel_id": kid, "gateway": "http://127.0.0.1:1", "cause": "TimeoutError: "}


def test_a_relaunched_kernel_beside_the_bind_failure_died_in_the_port_race(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text(RACE_LOG)
    assert logscan.died_in_port_race(log, DEAD)
    # launched once: whatever kept it from answering, the log does not say it was the race
    assert not logscan.died_in_port_race(log, OTHER)
    clean = tmp_path / "gateway-2.log"
    clean.write_text(RACE_LOG.replace("Address already in use", "Killed"))
    assert not logscan.died_in_port_race(clean, DEAD)
    assert not logscan.died_in_port_race(tmp_path / "missing.log", DEAD)


def test_only_the_port_race_is_excused(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text(RACE_LOG)
    doc = _doc(_replaced(DEAD))
    bench_sessions.explain_replaced(doc, [tmp_path / "gateway-2.log", log])
    assert doc.kernels_replaced[0].port_race is True
    assert _failures(doc) == []

    doc = _doc(_replaced(DEAD), _replaced(OTHER))
    bench_sessions.explain_replaced(doc, [log])
    assert _failures(doc) == ["kernel never ready (replaced) x1: TimeoutError: "]


def test_without_a_log_every_replaced_kernel_fails_the_run():
    # An existing deployment: the harness cannot read why a user's kernel died.
    doc = _doc(_replaced(DEAD))
    bench_sessions.explain_replaced(doc, [])
    assert _failures(doc) == ["kernel never ready (replaced) x1: TimeoutError: "]
