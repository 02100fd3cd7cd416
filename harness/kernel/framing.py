"""Kernel WebSocket framing: how a Jupyter message becomes a WebSocket frame and back.

Two protocols (jupyter_server's developer docs, "WebSocket kernel wire protocols"):
- legacy (no subprotocol): JSON text frames, and a binary frame only when a message carries
  buffers: a big-endian uint32 count, uint32 offsets, the JSON, the buffers
  (jupyter_server's serialize_binary_message);
- `v1.kernel.websocket.jupyter.org`: every message is one binary frame: a little-endian
  uint64 offset count, uint64 offsets, then channel, header, parent_header, metadata,
  content (each JSON) and the buffers (serialize_msg_to_ws_v1).
"""

from __future__ import annotations

import json
import struct
from typing import Any

LEGACY = ""
V1 = "v1.kernel.websocket.jupyter.org"


class FramingError(ValueError):
    """A frame that cannot be decoded: the server sent something the protocol forbids."""


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (bytes, bytearray, memoryview)):
        raise TypeError("buffers must go in msg['buffers'], not inside the JSON")
    return str(obj)


def encode_legacy(msg: dict[str, Any]) -> tuple[str | bytes, bool]:
    """Return (payload, is_binary)."""
    buffers = [bytes(b) for b in msg.get("buffers") or []]
    body = {k: v for k, v in msg.items() if k != "buffers"}
    text = json.dumps(body, default=_json_default)
    if not buffers:
        return text, False
    parts = [text.encode("utf-8"), *buffers]
    nbufs = len(parts)
    offsets = [4 * (nbufs + 1)]
    for part in parts[:-1]:
        offsets.append(offsets[-1] + len(part))
    header = struct.pack("!" + "I" * (nbufs + 1), nbufs, *offsets)
    return header + b"".join(parts), True


def decode_legacy(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, str):
        try:
            msg = json.loads(frame)
        except json.JSONDecodeError as exc:
            raise FramingError(f"text frame is not JSON: {exc}") from exc
        if not isinstance(msg, dict):
            raise FramingError("text frame is JSON but not an object")
        return msg
    data = bytes(frame)
    if len(data) < 4:
        raise FramingError(f"binary frame of {len(data)} bytes is too short for a header")
    (nbufs,) = struct.unpack("!I", data[:4])
    if nbufs < 1 or 4 * (nbufs + 1) > len(data):
        raise FramingError(f"binary frame declares {nbufs} parts but has {len(data)} bytes")
    offsets = list(struct.unpack("!" + "I" * nbufs, data[4 : 4 * (nbufs + 1)]))
    offsets.append(len(data))
    if any(a > b for a, b in zip(offsets, offsets[1:])):
        raise FramingError(f"binary frame offsets are not increasing: {offsets}")
    parts = [data[a:b] for a, b in zip(offsets, offsets[1:])]
    try:
        msg = json.loads(parts[0].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FramingError(f"binary frame's JSON part is invalid: {exc}") from exc
    if not isinstance(msg, dict):
        raise FramingError("binary frame's JSON part is not an object")
    msg["buffers"] = parts[1:]
    return msg


_V1_PARTS = ("header", "parent_header", "metadata", "content")


def encode_v1(msg: dict[str, Any]) -> bytes:
    channel = str(msg.get("channel") or "shell").encode("utf-8")
    # jupyter_client's json_packer: UTF-8, not ASCII-escaped, so frames match byte for byte.
    parts = [
        json.dumps(msg.get(k) or {}, default=_json_default, ensure_ascii=False).encode("utf-8")
        for k in _V1_PARTS
    ]
    parts += [bytes(b) for b in msg.get("buffers") or []]
    offsets = [8 * (1 + 1 + len(parts) + 1)]
    offsets.append(offsets[-1] + len(channel))
    for part in parts:
        offsets.append(offsets[-1] + len(part))
    head = len(offsets).to_bytes(8, "little") + b"".join(o.to_bytes(8, "little") for o in offsets)
    return head + channel + b"".join(parts)


def decode_v1(frame: str | bytes) -> dict[str, Any]:
    if isinstance(frame, str):
        raise FramingError("v1 protocol got a text frame; every v1 message is binary")
    data = bytes(frame)
    if len(data) < 8:
        raise FramingError(f"v1 frame of {len(data)} bytes is too short for its offset count")
    count = int.from_bytes(data[:8], "little")
    if count < 6 or 8 * (count + 1) > len(data):
        raise FramingError(f"v1 frame declares {count} offsets but has {len(data)} bytes")
    offsets = [int.from_bytes(data[8 * (i + 1) : 8 * (i + 2)], "little") for i in range(count)]
    if offsets[0] != 8 * (count + 1):
        raise FramingError(f"v1 frame's first offset {offsets[0]} is not the header end")
    if any(a > b for a, b in zip(offsets, offsets[1:])) or offsets[-1] > len(data):
        raise FramingError(f"v1 frame offsets are out of order or past the end: {offsets}")
    if offsets[-1] != len(data):
        raise FramingError(f"v1 frame has {len(data) - offsets[-1]} bytes after its last part")
    chunks = [data[a:b] for a, b in zip(offsets, offsets[1:])]
    msg: dict[str, Any] = {"channel": chunks[0].decode("utf-8", errors="replace")}
    for key, raw in zip(_V1_PARTS, chunks[1:5]):
        try:
            value = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FramingError(f"v1 frame's {key} is not JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise FramingError(f"v1 frame's {key} is not a JSON object")
        msg[key] = value
    msg["buffers"] = chunks[5:]
    return msg


def codec(subprotocol: str):
    """(encode, decode) for a negotiated subprotocol; encode returns (payload, is_binary)."""
    if subprotocol == V1:
        return (lambda msg: (encode_v1(msg), True)), decode_v1
    return encode_legacy, decode_legacy
