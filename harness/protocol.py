"""Kernel WebSocket framing: how a Jupyter message becomes a WebSocket frame and back.

The legacy protocol (no subprotocol) sends JSON text frames, and a binary frame only when a
message carries buffers: a big-endian uint32 count, uint32 offsets, the JSON, the buffers
(jupyter_server's serialize_binary_message).
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
