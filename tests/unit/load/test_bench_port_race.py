"""The launch bench counts journeys that died in EG's port race apart, with the cause read
from the gateway's log; any other failure, or one the log does not explain, still fails."""

from __future__ import annotations

from eg_harness.load import bench, logscan
from eg_harness.report.bench_results import Level

from tests.unit.load.test_sessions_port_race import DEAD, OTHER, RACE_LOG


def _ev(journey: str, phase: str, ok: bool, kernel_id: str | None, kind: str | None = None):
    return {
        "journey": journey,
        "kind": "gateway",
        "phase": phase,
        "start": 0.0,
        "seconds": 1.0,
        "ok": ok,
        "error_kind": kind,
        "error": None if ok else "WebSocket handshake refused with HTTP 500",
        "kernel_id": kernel_id,
    }


RACED = [
    _ev("j1", "start_kernel", True, None),
    _ev("j1", "open_channels", False, DEAD, "websocket"),
    _ev("j1", "shutdown", True, DEAD),
]
OTHER_FAILURE = [
    _ev("j2", "start_kernel", True, None),
    _ev("j2", "open_channels", False, OTHER, "websocket"),
]
GOOD = [_ev("j3", "start_kernel", True, None), _ev("j3", "time_to_first_execute", True, "k3")]


def test_only_journeys_on_a_kernel_the_log_shows_racing_are_classified(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text(RACE_LOG)
    events = RACED + OTHER_FAILURE + GOOD
    assert logscan.port_race_journeys(events, log) == {"j1": DEAD}
    # the same failures without the signature in the log: nothing is excused
    clean = tmp_path / "clean.log"
    clean.write_text(RACE_LOG.replace("Address already in use", "Killed"))
    assert logscan.port_race_journeys(events, clean) == {}
    assert logscan.port_race_journeys(events, tmp_path / "missing.log") == {}
    # a failed journey that never got a kernel id cannot be matched to the log
    no_id = [{**e, "kernel_id": None} for e in RACED]
    assert logscan.port_race_journeys(no_id, log) == {}


class _Run:
    def __init__(self, events):
        self.events = events


def _summary(events, failed: int) -> Level:
    errors: dict[str, int] = {}
    for e in events:
        if not e["ok"]:
            key = f"{e['phase']}: {e['error_kind']}"
            errors[key] = errors.get(key, 0) + 1
    return Level(
        mode="storm",
        concurrency=3,
        journeys=3,
        failed=failed,
        errors=errors,
        error_examples={k: "WebSocket handshake refused with HTTP 500" for k in errors},
    )


def test_a_storm_whose_only_failure_is_the_race_passes_and_says_so(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text(RACE_LOG)
    s = _summary(RACED + GOOD, failed=1)
    bench.explain_port_race([s], [[(_Run(RACED + GOOD), s)]], log)
    assert s.port_race.model_dump() == {"journeys": 1, "kernels": [DEAD]}
    assert s.unexplained_errors() == {}
    note = bench.port_race_note(s)
    assert "1 of 3 journeys" in note and "Address already in use" in note
    assert "EG_PORT_RANGE" in note and DEAD[:8] in note


def test_a_failure_beside_the_race_still_fails(tmp_path):
    log = tmp_path / "gateway.log"
    log.write_text(RACE_LOG)
    events = RACED + OTHER_FAILURE + GOOD
    s = _summary(events, failed=2)
    bench.explain_port_race([s], [[(_Run(events), s)]], log)
    assert s.port_race.journeys == 1
    assert s.unexplained_errors() == {"open_channels: websocket": 1}


def test_without_the_log_every_failure_counts(tmp_path):
    s = _summary(RACED + GOOD, failed=1)
    bench.explain_port_race([s], [[(_Run(RACED + GOOD), s)]], tmp_path / "none.log")
    assert s.port_race.journeys == 0
    assert s.unexplained_errors() == {"open_channels: websocket": 1}
