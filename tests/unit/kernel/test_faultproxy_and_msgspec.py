"""The fault proxy's frame filter and the messaging-spec check, on hand-made input."""

from __future__ import annotations

import socket
import threading

from eg_harness.kernel import messages as m
from eg_harness.kernel.client import as_client_message
from eg_harness.kernel.msgspec import violation
from eg_harness.targets.local.faultproxy import _frame_filter


def _frame(opcode: int, payload: bytes, fin: bool = True) -> bytes:
    assert len(payload) < 126
    return bytes([(0x80 if fin else 0) | opcode, len(payload)]) + payload


def _filtered(stream: bytes) -> bytes:
    a_in, a_out = socket.socketpair()
    b_in, b_out = socket.socketpair()
    t = threading.Thread(target=_frame_filter, args=(a_out, b_in, bytearray()))
    t.start()
    a_in.sendall(stream)
    a_in.shutdown(socket.SHUT_WR)
    got = b""
    b_out.settimeout(5)
    while chunk := b_out.recv(65536):
        got += chunk
    t.join(5)
    for s in (a_in, a_out, b_in, b_out):
        s.close()
    return got


def test_binary_frames_and_their_continuations_are_dropped():
    text, ping = _frame(0x1, b'{"a": 1}'), _frame(0x9, b"p")
    binary = _frame(0x2, b"\x00\x01", fin=False) + _frame(0x0, b"\x02", fin=True)
    assert _filtered(text + binary + ping + text) == text + ping + text


def test_text_continuations_pass():
    frames = _frame(0x1, b'{"a"', fin=False) + _frame(0x0, b": 1}", fin=True)
    assert _filtered(frames) == frames


def test_conforming_and_violating_messages():
    ok = m.new_message(
        "execute_reply",
        {"status": "ok", "execution_count": 1, "user_expressions": {}, "payload": []},
        session="s",
        channel="shell",
    )
    assert violation(ok) is None
    bad = m.new_message("status", {"execution_state": "sleepy"}, session="s", channel="iopub")
    problem = violation(bad)
    assert problem and "execution_state" in problem and "status on iopub" in problem
    for server_state in ("restarting", "dead"):  # a Jupyter server's restarter says these
        frame = m.new_message("status", {"execution_state": server_state}, session="s")
        assert violation(frame) is None, server_state
    assert violation(m.new_message("comm_msg", {"comm_id": "c", "data": {}}, session="s")) is None


def test_client_message_shape_matches_jupyter_client():
    frame = m.new_message("status", {"execution_state": "idle"}, session="s", channel="iopub")
    msg = as_client_message(frame)
    assert msg["msg_id"] == frame["header"]["msg_id"] and msg["msg_type"] == "status"
    assert "channel" not in msg and msg["buffers"] == []


def test_password_correction_is_ours_and_leaves_the_library_alone():
    from jupyter_kernel_test import msgspec_v5

    req = m.new_message("execute_request", {"code": "input()"}, session="s")
    prompt = m.new_message(
        "input_request",
        {"prompt": "pw? ", "password": True},
        session="s",
        channel="stdin",
        parent_header=req["header"],
    )
    assert violation(prompt) is None
    prompt["content"]["password"] = 1
    assert "password" in violation(prompt)
    library = msgspec_v5.schema_fragments["input_request"]["properties"]["password"]
    assert library == {"type": "number"}, "the library's own schema must stay as shipped"
