"""A closed channels WebSocket says which hop closed it, how, and what was moving.

Against a real server on a real socket (tests/unit/kernel/ws_server.py): a close after a big message
points at a frame-size limit, a close after quiet reports the idle time, a drop part-way
through a frame reports how much of it had arrived.
"""

from __future__ import annotations

import json
import threading

import pytest
from eg_harness.kernel import disconnect
from eg_harness.kernel import messages as m
from eg_harness.kernel.channels import ChannelsError, ConnectionClosed, KernelChannels

from tests.unit.kernel.ws_server import OneShotServer, Peer

MiB = 1024 * 1024


def _closed(url: str, before=None) -> ConnectionClosed:
    ch = KernelChannels(url, connect_timeout=5)
    try:
        if before is not None:
            before(ch)
        with pytest.raises(ConnectionClosed) as info:
            ch.recv(10)
        return info.value
    finally:
        ch.close()


def test_close_after_a_big_message_names_the_size_code_and_frame_limit():
    def refuse_big(peer: Peer) -> None:
        _opcode, data = peer.read_frame()
        peer.close(1009, f"message of {len(data)} bytes too big")

    with OneShotServer(refuse_big) as server:
        big = m.execute_request("#" + "x" * (2 * MiB), session="s")
        err = _closed(server.url, before=lambda ch: ch.send(big))
    text = str(err)
    assert err.code == 1009
    assert f"the gateway at {server.url} closed the WebSocket with code 1009" in text
    assert "(message too big)" in text and "too big'" in text
    assert "2.0 MiB execute_request" in text
    assert "frame-size limit" in text
    assert isinstance(err, ChannelsError) and isinstance(err, AssertionError)


def test_drop_part_way_through_a_frame_reports_how_much_arrived():
    def drop_mid_frame(peer: Peer) -> None:
        peer.conn.sendall(Peer.header(0x1, 5 * MiB) + b"{" * MiB)
        peer.conn.shutdown(2)

    with OneShotServer(drop_mid_frame, path="/user/alice/api/kernels/k/channels") as server:
        err = _closed(server.url)
    text = str(err)
    assert err.code is None
    assert err.in_flight.direction == "receiving" and err.in_flight.size == 5 * MiB
    assert text.startswith("the user server (through the hub's proxy) at ")
    assert "without a close frame" in text
    assert "while receiving a 5.0 MiB message (1.0 MiB of it moved)" in text
    assert "frame-size limit" in text


def test_close_after_quiet_reports_the_idle_time():
    quiet = threading.Event()  # never set: the server stays quiet for the whole wait

    def idle_then_close(peer: Peer) -> None:
        status = m.new_message("status", {"execution_state": "idle"}, session="k", channel="iopub")
        peer.send_text(json.dumps(status))
        quiet.wait(0.4)
        peer.close(1001, "idle timeout")

    with OneShotServer(idle_then_close) as server:
        err = _closed(server.url, before=lambda ch: ch.recv(5))
    text = str(err)
    assert err.code == 1001 and err.in_flight is None
    assert "code 1001 (going away), reason 'idle timeout'" in text
    assert "with no message in flight" in text
    idle = float(text.split("with no message in flight, ")[1].split("s after")[0])
    assert 0.3 <= idle < 10, text
    assert "(1 received in all)" in text


def test_hint_for_a_long_idle_without_a_big_message():
    text = disconnect.describe(
        "ws://gw:8888/api/kernels/k/channels?token=secret",
        code=None,
        reason="",
        in_flight=None,
        idle_s=disconnect.LONG_IDLE + 5,
        received=3,
        cause="ConnectionResetError",
    )
    assert "secret" not in text
    assert "idle timeout" in text and "frame-size" not in text


def test_a_drop_while_pings_kept_coming_says_the_path_was_alive():
    # Against a real socket: two pings 0.2 s apart, then the TCP connection cut, no close frame.
    def ping_then_drop(peer: Peer) -> None:
        for _ in range(2):
            peer.conn.sendall(Peer.header(0x9, 0))
            peer.read_frame()  # the client's pong
            threading.Event().wait(0.2)
        peer.conn.shutdown(2)

    with OneShotServer(ping_then_drop) as server:
        ch = KernelChannels(server.url, connect_timeout=5)
        try:
            with pytest.raises(ConnectionClosed) as info:
                for _ in range(5):  # a ping returns None: read on until the drop
                    ch.recv(5)
        finally:
            ch.close()
    err = info.value
    text = str(err)
    assert err.code is None and "without a close frame" in text
    assert "What this client saw: idle for " in text
    gap = float(text.split("while pings came every ")[1].split("s")[0])
    assert 0.15 <= gap < 5, text
    assert "so the path was alive" in text and "process exit or restart" in text


def _text(**kw) -> str:
    base = {
        "code": None,
        "reason": "",
        "in_flight": None,
        "idle_s": 40.0,
        "received": 5,
        "cause": "ConnectionResetError",
    }
    return disconnect.describe("ws://gw:8888/api/kernels/k/channels", **(base | kw))


def test_a_drop_right_after_a_big_message_names_it_and_its_size():
    big = disconnect.InFlight("sending", 12 * MiB, msg_type="comm_msg")
    text = _text(last_sent=big, last_sent_age_s=0.4, timeline=disconnect.Timeline(age_s=60))
    assert "the drop came 0.4s after sending a 12.0 MiB comm_msg" in text
    assert "frame that size" in text
    # long after the big message, the big message is no longer the suspect
    later = _text(last_sent=big, last_sent_age_s=50.0, timeline=disconnect.Timeline(age_s=60))
    assert "frame-size" not in later and "idle timeout" in later


def test_pings_that_stopped_before_the_drop_point_at_a_stalled_far_side():
    tl = disconnect.Timeline(age_s=120, pings=[65.0, 60.0, 55.0], ping_interval=None)
    text = _text(timeline=tl)
    assert "the server's pings (every 5.0s) stopped 55.0s before the drop" in text
    assert "blocked or that exited" in text


def test_no_ping_in_a_long_life_says_pings_do_not_reach_the_client():
    text = _text(timeline=disconnect.Timeline(age_s=90, pings=[], ping_interval=30.0))
    assert "no ping arrived in the 90s the connection lived" in text
    assert "pings every 30s" in text and "idle for 40.0s" in text


def test_a_close_frame_keeps_the_plain_account():
    text = _text(code=1001, reason="bye", timeline=disconnect.Timeline(age_s=90, pings=[1.0]))
    assert "What this client saw" not in text and "code 1001 (going away)" in text
