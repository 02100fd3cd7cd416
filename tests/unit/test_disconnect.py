"""A closed channels WebSocket says which hop closed it, how, and what was moving.

Against a real server on a real socket (tests/unit/ws_server.py): a close after a big message
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

from tests.unit.ws_server import OneShotServer, Peer

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
