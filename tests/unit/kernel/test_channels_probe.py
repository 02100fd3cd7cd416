"""A request wait that probes: a later request answered first proves the earlier one lost.

Against a scripted kernel on a real socket (tests/unit/kernel/ws_server.py). A kernel answers shell
requests in order, so on a correct hop a probe can never overtake the request it follows, however
slow that request is; on a hop that lost the reply (or the idle status), the probe's answer ends
the wait at once instead of at the quiet limit.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ChannelsError, KernelChannels, ReplyTimeout

from tests.unit.kernel.ws_server import OneShotServer, Peer

QUIET = 20.0  # what the wait would cost without probes
REPLIES = {  # as the messaging spec has them
    "execute_reply": {"status": "ok", "execution_count": 1, "user_expressions": {}},
    "kernel_info_reply": {
        "status": "ok",
        "protocol_version": m.PROTOCOL_VERSION,
        "implementation": "scripted",
        "language_info": {"name": "python"},
        "banner": "",
    },
}


def _kernel(peer: Peer, *, lose: str | None, slow_s: float, stop: threading.Event) -> None:
    """Answer each request in order, as a kernel does: busy, reply, idle. The first request
    (the one under test) takes `slow_s`, and its reply or idle is lost if `lose` says so."""
    first = True
    while not stop.is_set():
        opcode, data = peer.read_frame()
        if opcode == 0x8:
            return
        req = json.loads(data)
        if first:
            time.sleep(slow_s)  # the kernel's work, not synchronisation
        kind = m.msg_type(req).replace("_request", "_reply")
        content = REPLIES[kind]
        out = [
            m.new_message(
                "status", {"execution_state": "busy"}, session="k", parent_header=req["header"]
            ),
            m.new_message(kind, content, session="k", channel="shell", parent_header=req["header"]),
            m.new_message(
                "status", {"execution_state": "idle"}, session="k", parent_header=req["header"]
            ),
        ]
        out[0]["channel"] = out[2]["channel"] = "iopub"
        for msg in out:
            lost = first and (
                (lose == "execute_reply" and m.msg_type(msg) == lose)
                or (lose == "idle" and msg["content"].get("execution_state") == "idle")
            )
            if not lost:
                peer.send_text(json.dumps(msg))
        first = False


def _collect(lose: str | None, slow_s: float = 0.0, probe_after: float = 0.3):
    stop = threading.Event()
    with OneShotServer(lambda p: _kernel(p, lose=lose, slow_s=slow_s, stop=stop)) as server:
        ch = KernelChannels(server.url, connect_timeout=5)
        try:
            req = ch.new("execute_request", {"code": "x"})
            t0 = time.monotonic()
            try:
                res = ch.request(req, 60, quiet_limit=QUIET, probe_after=probe_after)
            except ReplyTimeout as exc:
                res = exc
            took = time.monotonic() - t0
            # What a test reading the socket afterwards would be handed: never a probe's answer.
            later = [ch.recv(0.3) for _ in range(3)]
            return res, took, [*ch._pending, *filter(None, later)], ch._probe_ids
        finally:
            stop.set()
            ch.close()


@pytest.mark.parametrize(
    ("lose", "says"),
    [("execute_reply", "reply was lost"), ("idle", "idle status came first")],
    ids=["reply", "idle"],
)
def test_a_probe_answered_first_ends_the_wait_as_a_loss(lose, says):
    exc, took, _read, _probes = _collect(lose)
    assert isinstance(exc, ReplyTimeout), exc
    assert exc.stalled and exc.overtaken and says in exc.overtaken, exc
    assert "lost:" in str(exc)
    assert took < QUIET / 4, f"took {took:.1f}s: the probe did not end the wait"


def test_a_slow_request_is_never_overtaken_by_its_probes():
    res, took, read, probes = _collect(None, slow_s=1.5, probe_after=0.2)
    assert not isinstance(res, ReplyTimeout), res
    assert res.status == "ok" and took >= 1.5
    # Probes went out while it worked; their answers never reach a reader of the socket.
    assert probes
    assert not [f for f in read if m.parent_id(f) in probes], read


def _status_after(delay_s: float, state: str, stop: threading.Event):
    """A kernel that says nothing until `delay_s`, then one iopub status (a restarter's)."""

    def behave(peer: Peer) -> None:
        if stop.wait(delay_s):
            return
        msg = m.new_message("status", {"execution_state": state}, session="k")
        msg["channel"] = "iopub"
        peer.send_text(json.dumps(msg))
        stop.wait(10)

    return behave


@pytest.mark.parametrize(("status_at", "enough_at"), [(0.3, 2.0), (30.0, 1.0)])
def test_a_status_wait_ends_early_only_when_the_caller_says_enough(status_at, enough_at):
    stop = threading.Event()
    with OneShotServer(_status_after(status_at, "restarting", stop)) as server:
        ch = KernelChannels(server.url, connect_timeout=5)
        t0 = time.monotonic()
        try:

            def enough():
                return "proved silent" if time.monotonic() - t0 >= enough_at else None

            try:
                state, _took, _seen = ch.wait_status({"restarting", "dead"}, QUIET, enough)
                outcome = state
            except ChannelsError as exc:
                outcome = str(exc)
            took = time.monotonic() - t0
        finally:
            stop.set()
            ch.close()
    if status_at < enough_at:
        assert outcome == "restarting" and took < enough_at, (outcome, took)
    else:
        assert "proved silent" in outcome and "no iopub status" in outcome, outcome
        assert enough_at <= took < enough_at + 2, f"took {took:.1f}s: enough did not end it"
