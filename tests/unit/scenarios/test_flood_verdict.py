"""The 10,000-output scenario's verdict on a loss, from the messages alone (no processes).

A loss behind a ZMQ-sized backlog is re-checked at half the relayed rate: a whole paced flood
makes it an xfail naming IOPub's overflow and both rates; a paced flood that loses outputs
while the client keeps up fails; a loss without a backlog fails at once, no re-check.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ExecuteResult
from eg_harness.scenarios.websocket import test_payloads as flood

T0 = 1_700_000_000.0
N = 10_000


def _stream(parent: str, counter: int, line: int, sent: float) -> dict:
    date = datetime.fromtimestamp(sent, timezone.utc).isoformat()
    return {
        "channel": "iopub",
        "header": {"msg_type": "stream", "msg_id": f"kern_1_{counter}", "date": date},
        "parent_header": {"msg_id": parent},
        "content": {"name": "stdout", "text": f"{line}\n"},
    }


class FakeChans:
    """What _judge_loss reads of KernelChannels: frames kept, arrivals, and one request."""

    def __init__(self, paced_lost: range = range(0)) -> None:
        self.session, self.username, self.subprotocol = "s", "u", None
        self.received: list[dict] = []
        self.arrivals: dict[str, float] = {}
        self.last_frame_at = 0.0
        self.paced_lost = paced_lost
        self.paced_rate = None

    def keep(self, frame: dict, arrived: float) -> None:
        self.received.append(frame)
        self.arrivals[frame["header"]["msg_id"]] = arrived

    def request(self, req, timeout, **kw) -> ExecuteResult:
        """The paced re-check: every line arrives as it is printed, but `paced_lost`."""
        self.paced_rate = int(req["content"]["code"].split("\n")[1].split(", ")[-1])
        res = ExecuteResult(req, {"content": {"status": "ok"}})
        for i in range(flood.PACED_N):
            sent = T0 + 100 + i / self.paced_rate
            frame = _stream(req["header"]["msg_id"], 20_000 + i, i, sent)
            if i in self.paced_lost:
                continue
            self.keep(frame, sent + 0.001)
            res.iopub.append(frame)
        return res


class Hop:
    name = "gateway"


class RunState:
    def __init__(self) -> None:
        self.rows = []

    def table_row(self, title, columns, row) -> None:
        self.rows.append((title, row))


def _flood(chans: FakeChans, lost: range, client_lag: float) -> ExecuteResult:
    """10,000 lines printed at 4,000/s; the client receives line i at i / (4000 / client_lag)."""
    req = m.execute_request("flood", session="s")
    res = ExecuteResult(req, {"content": {"status": "ok"}})
    for i in range(N):
        sent = T0 + i / 4000
        frame = _stream(req["header"]["msg_id"], 10 + i, i, sent)
        if i in lost:
            continue
        chans.keep(frame, T0 + 0.001 + i * client_lag / 4000)
        res.iopub.append(frame)
    # The kernel's next message (the idle status) arrives, after whatever backlog there was.
    idle = m.new_message("status", {"execution_state": "idle"}, session="s", channel="iopub")
    idle["header"].update(
        msg_id=f"kern_1_{10 + N}", date=_stream("", 0, 0, T0 + N / 4000)["header"]["date"]
    )
    idle["parent_header"] = req["header"]
    chans.keep(idle, T0 + 0.002 + N * client_lag / 4000)
    res.iopub.append(idle)
    return res


def test_overflow_behind_a_backlog_with_a_whole_paced_flood_is_an_xfail_with_both_rates():
    chans = FakeChans()
    res = _flood(chans, range(9_000, N), client_lag=10)  # relayed 400/s: far behind
    with pytest.raises(pytest.xfail.Exception) as info:
        flood._judge_loss(chans, Hop(), RunState(), res, N, idle_missing=False)
    text = str(info.value)
    assert "The kernel printed 4000 lines/s and this hop relayed 400/s" in text
    assert "2000 outputs at half that rate arrived whole" in text
    assert chans.paced_rate == 200


def test_a_paced_flood_that_loses_outputs_it_keeps_up_with_fails():
    chans = FakeChans(paced_lost=range(700, 710))
    res = _flood(chans, range(9_000, N), client_lag=10)
    with pytest.raises(AssertionError) as info:
        flood._judge_loss(chans, Hop(), RunState(), res, N, idle_missing=False)
    text = str(info.value)
    assert "and at 200 lines/s, half what it relayed" in text
    assert "10 kernel messages after #20699 never arrived" in text
    assert "this hop loses outputs it keeps up with" in text


def test_a_loss_without_a_backlog_fails_without_a_re_check():
    chans = FakeChans()
    res = _flood(chans, range(300, 360), client_lag=1)  # the client keeps up
    with pytest.raises(AssertionError) as info:
        flood._judge_loss(chans, Hop(), RunState(), res, N, idle_missing=False)
    assert "60 kernel messages after #309 never arrived" in str(info.value)
    assert chans.paced_rate is None  # no paced flood was asked for
