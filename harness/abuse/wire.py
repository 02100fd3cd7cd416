"""Bad input on the wire: requests and WebSocket frames no well-behaved client would send.

httpx and websocket-client refuse to send most of what a bad-input suite needs (unknown
methods, undecodable bodies, dot segments, a Content-Length that lies, unmasked frames, reserved
opcodes), so requests are written as bytes on a socket and the answer is parsed with the
standard library's `http.client.HTTPResponse`; frames are written by `frame()`. Every read has a
bound: a server that neither answers nor closes within it is reported as hung, never waited on.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from eg_harness.runtime.secrets import redact
from eg_harness.runtime.text import clip


@dataclass
class Observation:
    """What the server did with one bad input, in terms a verdict can be drawn from.

    `outcome`: "answered" (an HTTP status, or a WebSocket reply to the follow-up request),
    "closed" (the connection ended: no HTTP answer, or a WebSocket close frame/drop),
    "hung" (neither within the bound), "held" (a half-open request the server is still waiting
    on, which is allowed), "released" / "kept" (whether a dropped socket was let go).
    """

    outcome: str
    status: int | None = None
    message: str = ""
    traceback: str = ""  # the last line of a traceback the server sent, if it sent one
    close_code: int | None = None
    elapsed_s: float = 0.0
    bound_s: float | None = None  # the bound a "hung" outcome waited, when not the default
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        if self.outcome == "answered" and self.status is not None:
            text = f"HTTP {self.status}"
        elif self.outcome == "closed" and self.close_code is not None:
            text = f"closed with code {self.close_code}"
        else:
            text = self.outcome
        if self.traceback:
            text += " with a traceback"
        return text


def _host_port(base_url: str) -> tuple[str, int, str]:
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return parts.hostname or "127.0.0.1", port, parts.path.rstrip("/")


def error_fields(body: bytes) -> tuple[str, str]:
    """(message, last traceback line) from a Jupyter/EG error body, tolerant of anything."""
    try:
        doc = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", "replace").strip()
        if text.lstrip().lower().startswith(("<!doctype", "<html")):
            return "(an HTML error page)", ""
        return clip(text, 200), ""
    if not isinstance(doc, dict):
        return clip(str(doc), 200), ""
    tb = doc.get("traceback") or ""
    if isinstance(tb, list):
        tb = "".join(str(x) for x in tb)
    last = next((ln.strip() for ln in reversed(str(tb).splitlines()) if ln.strip()), "")
    parts = [str(doc.get(k)) for k in ("message", "reason") if doc.get(k)]
    return clip(" / ".join(dict.fromkeys(parts)), 300), clip(last, 300)


def build_request(
    base_url: str,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    declared_length: int | None = None,
) -> bytes:
    """An HTTP/1.1 request as bytes, the target sent exactly as given (after the base path)."""
    host, port, prefix = _host_port(base_url)
    lines = [f"{method} {prefix}{target} HTTP/1.1", f"Host: {host}:{port}"]
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    if body is not None or declared_length is not None:
        length = declared_length if declared_length is not None else len(body or b"")
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


def exchange(base_url: str, data: bytes, bound: float) -> Observation:
    """Send `data` and read one HTTP answer within `bound` seconds (total)."""
    host, port, _ = _host_port(base_url)
    t0 = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=bound)
    except OSError as exc:
        return Observation("closed", message=f"connect failed: {exc}", elapsed_s=0.0)
    with sock:
        try:
            sock.settimeout(bound)
            sock.sendall(data)
        except OSError as exc:
            # A server may answer and close before reading everything (a body over its limit).
            note = f"send cut short: {type(exc).__name__}"
        else:
            note = ""
        resp = http.client.HTTPResponse(sock)
        try:
            sock.settimeout(max(0.01, bound - (time.monotonic() - t0)))
            resp.begin()
            body = resp.read()
        except TimeoutError:
            return Observation("hung", message=note, elapsed_s=time.monotonic() - t0)
        except (http.client.HTTPException, OSError) as exc:
            obs = Observation("closed", message=f"no answer: {type(exc).__name__}")
            obs.elapsed_s = time.monotonic() - t0
            return obs
    message, tb = error_fields(body)
    if resp.status in (301, 302, 303, 307, 308):
        message = f"redirect to {resp.getheader('Location')}"
    obs = Observation("answered", resp.status, redact(message), redact(tb))
    obs.elapsed_s = time.monotonic() - t0
    if note:
        obs.notes.append(note)
    return obs


@contextlib.contextmanager
def held(base_url: str, data: bytes, bound: float) -> Iterator[Observation]:
    """Send a request that never finishes (`data` is its beginning) and hold the connection
    while the caller checks that everyone else is still served; then read whatever the server
    said meanwhile, without waiting for it."""
    host, port, _ = _host_port(base_url)
    obs = Observation("held")
    t0 = time.monotonic()
    with socket.create_connection((host, port), timeout=bound) as sock:
        sock.sendall(data)
        yield obs
        sock.settimeout(0.2)
        try:
            early = sock.recv(65536)
        except TimeoutError:
            early = None
        except OSError as exc:
            early = b""
            obs.notes.append(f"reset: {type(exc).__name__}")
        if early:
            head = early.split(b"\r\n", 1)[0].decode("latin-1", "replace")
            parts = head.split(" ", 2)
            if len(parts) >= 2 and parts[1].isdigit():
                obs.outcome, obs.status = "answered", int(parts[1])
                obs.message = redact(error_fields(early.split(b"\r\n\r\n", 1)[-1])[0])
        elif early == b"":
            obs.outcome = "closed"
    obs.elapsed_s = time.monotonic() - t0


# -- WebSocket frames -----------------------------------------------------------------------
TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9
MASK_KEY = b"\x5a\x17\xc3\x01"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    masked: bool = True,
    declared_length: int | None = None,
) -> bytes:
    """One WebSocket frame as a client writes it (RFC 6455 5.2), honest or not: the declared
    length may lie, the mask may be missing, the opcode may be reserved."""
    length = len(payload) if declared_length is None else declared_length
    head = bytes([(0x80 if fin else 0) | (opcode & 0x0F)])
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head += bytes([mask_bit | length])
    elif length < 1 << 16:
        head += bytes([mask_bit | 126]) + struct.pack("!H", length)
    else:
        head += bytes([mask_bit | 127]) + struct.pack("!Q", length)
    if not masked:
        return head + payload
    body = bytes(b ^ MASK_KEY[i % 4] for i, b in enumerate(payload))
    return head + MASK_KEY + body
