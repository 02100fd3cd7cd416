"""Unit tests for harness.protocol: legacy kernel WebSocket framing (text and binary)."""

from __future__ import annotations

import json
import struct

import pytest
from eg_harness.kernel.framing import FramingError, decode_legacy, encode_legacy

MIB = 1024 * 1024


def _msg(**extra) -> dict:
    msg = {
        "header": {"msg_id": "abc123", "msg_type": "comm_msg", "session": "s1"},
        "parent_header": {},
        "metadata": {},
        "content": {"data": {"x": 1}, "comm_id": "c1"},
        "channel": "shell",
    }
    msg.update(extra)
    return msg


def _header(nbufs: int, offsets: list[int]) -> bytes:
    return struct.pack("!" + "I" * (len(offsets) + 1), nbufs, *offsets)


# -- round trips -------------------------------------------------------------------------


def test_text_frame_round_trip():
    msg = _msg(content={"code": "print('é ✓')", "silent": False, "n": [1, 2.5, None]})
    payload, binary = encode_legacy(msg)
    assert binary is False
    assert isinstance(payload, str)
    assert json.loads(payload) == msg
    assert decode_legacy(payload) == msg


def test_no_buffers_is_a_text_frame_even_with_an_empty_buffers_list():
    msg = _msg(buffers=[])
    payload, binary = encode_legacy(msg)
    assert binary is False
    assert isinstance(payload, str)
    decoded = decode_legacy(payload)
    assert "buffers" not in decoded
    assert decoded == _msg()


@pytest.mark.parametrize(
    "buffers",
    [
        pytest.param([b""], id="one-empty"),
        pytest.param([b"\x00"], id="one-1B"),
        pytest.param([bytes(range(256)) * (MIB // 256)], id="one-1MiB"),
        pytest.param(
            [b"", b"\xff", bytes((i * 7) % 251 for i in range(MIB)), b"", b"tail"],
            id="several-0B-1B-1MiB",
        ),
    ],
)
def test_binary_round_trip_is_byte_exact(buffers):
    msg = _msg(buffers=buffers)
    payload, binary = encode_legacy(msg)
    assert binary is True
    assert isinstance(payload, bytes)
    decoded = decode_legacy(payload)
    got = decoded.pop("buffers")
    assert [bytes(b) for b in got] == buffers
    assert [len(b) for b in got] == [len(b) for b in buffers]
    assert decoded == _msg()


def test_memoryview_and_bytearray_buffers_are_sent_as_bytes():
    raw = bytes(range(10))
    msg = _msg(buffers=[memoryview(raw), bytearray(b"xyz")])
    payload, binary = encode_legacy(msg)
    assert binary is True
    assert [bytes(b) for b in decode_legacy(payload)["buffers"]] == [raw, b"xyz"]


def test_bytes_inside_the_json_are_refused():
    with pytest.raises(TypeError, match="buffers must go in msg"):
        encode_legacy(_msg(content={"data": b"raw"}))


def test_decode_accepts_bytearray_and_memoryview_frames():
    payload, _ = encode_legacy(_msg(buffers=[b"abc"]))
    for frame in (bytearray(payload), memoryview(payload)):
        assert bytes(decode_legacy(frame)["buffers"][0]) == b"abc"


# -- exact layout ------------------------------------------------------------------------


def test_binary_layout_byte_for_byte():
    msg = {"header": {"msg_id": "m"}, "content": {}, "buffers": [b"AB", b"", b"C"]}
    payload, binary = encode_legacy(msg)
    assert binary is True

    json_part = json.dumps({"header": {"msg_id": "m"}, "content": {}}).encode("utf-8")
    assert json_part == b'{"header": {"msg_id": "m"}, "content": {}}'
    # Parts are the JSON then each buffer: 4 parts, so a header of 1 count + 4 offsets.
    nparts = 4
    first = 4 * (nparts + 1)
    assert first == 20
    offsets = [
        first,
        first + len(json_part),
        first + len(json_part) + 2,
        first + len(json_part) + 2,
    ]
    expected = (
        struct.pack(">I", nparts) + struct.pack(">IIII", *offsets) + json_part + b"AB" + b"" + b"C"
    )
    assert payload == expected
    # And spelled out, so a change in struct usage cannot hide an endianness flip.
    assert payload[:4] == b"\x00\x00\x00\x04"
    assert payload[4:8] == b"\x00\x00\x00\x14"
    assert payload[20 : 20 + len(json_part)] == json_part
    assert payload[-3:] == b"ABC"
    assert len(payload) == 20 + len(json_part) + 3


def test_decode_of_a_hand_built_frame():
    json_part = b'{"header": {"msg_id": "q"}, "channel": "iopub"}'
    bufs = [b"\x01\x02\x03", b"", b"zz"]
    parts = [json_part, *bufs]
    offsets = [4 * (len(parts) + 1)]
    for p in parts[:-1]:
        offsets.append(offsets[-1] + len(p))
    frame = _header(len(parts), offsets) + b"".join(parts)
    msg = decode_legacy(frame)
    assert msg["header"] == {"msg_id": "q"}
    assert msg["channel"] == "iopub"
    assert [bytes(b) for b in msg["buffers"]] == bufs


# -- malformed frames --------------------------------------------------------------------


def test_text_frame_that_is_not_json():
    with pytest.raises(FramingError, match="text frame is not JSON"):
        decode_legacy("{not json")


@pytest.mark.parametrize("frame", [b"", b"\x00", b"\x00\x00\x01"])
def test_binary_frame_shorter_than_the_count(frame):
    with pytest.raises(FramingError, match="too short"):
        decode_legacy(frame)


@pytest.mark.parametrize(
    "frame",
    [
        pytest.param(_header(5, [24]) + b"{}", id="count-5-in-a-short-frame"),
        pytest.param(struct.pack("!I", 0xFFFFFFFF) + b"\x00" * 16, id="count-huge"),
        pytest.param(struct.pack("!I", 0) + b"{}", id="count-zero"),
    ],
)
def test_binary_frame_count_inconsistent_with_its_size(frame):
    with pytest.raises(FramingError, match="declares"):
        decode_legacy(frame)


def test_binary_frame_with_decreasing_offsets():
    json_part = b"{}"
    # Two parts, JSON at 12..14, buffer offset points backwards to 10.
    frame = _header(2, [12, 10]) + json_part + b"abc"
    with pytest.raises(FramingError, match="not increasing"):
        decode_legacy(frame)


def test_binary_frame_with_an_offset_past_the_end():
    frame = _header(2, [12, 999]) + b"{}" + b"abc"
    with pytest.raises(FramingError, match="not increasing"):
        decode_legacy(frame)


def test_binary_frame_whose_json_part_is_not_utf8():
    bad = b'{"a": "\xff\xfe"}'
    frame = _header(2, [12, 12 + len(bad)]) + bad + b"buf"
    with pytest.raises(FramingError, match="JSON part is invalid"):
        decode_legacy(frame)


def test_binary_frame_whose_json_part_is_not_json():
    bad = b"not-json"
    frame = _header(1, [8]) + bad
    with pytest.raises(FramingError, match="JSON part is invalid"):
        decode_legacy(frame)


def test_framing_error_is_a_value_error():
    with pytest.raises(ValueError):
        decode_legacy("")


# -- agreement with jupyter_server -------------------------------------------------------


def test_matches_jupyter_server_serialize_binary_message():
    zmqhandlers = pytest.importorskip("jupyter_server.base.zmqhandlers")
    msg = _msg(buffers=[b"AB", b"", b"\x00" * 1000])
    ours, binary = encode_legacy(msg)
    assert binary is True
    theirs = zmqhandlers.serialize_binary_message(dict(msg, buffers=list(msg["buffers"])))
    # jupyter_server may order/format JSON keys differently; compare decoded both ways.
    assert decode_legacy(theirs) == decode_legacy(ours)
    back = zmqhandlers.deserialize_binary_message(ours)
    assert [bytes(b) for b in back["buffers"]] == msg["buffers"]
    assert back["header"] == msg["header"]
