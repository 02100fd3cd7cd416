"""A one-connection WebSocket server on 127.0.0.1, built on Python's socket, for unit tests.

Real bytes on a real socket, so KernelChannels' handling of closes is tested against what a
server actually sends (close frames with codes, half-sent frames, abrupt drops), not a mock.
"""

from __future__ import annotations

import base64
import hashlib
import socket
import struct
import threading
from collections.abc import Callable

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Peer:
    """The server's side of the accepted connection, for a behaviour function to script."""

    def __init__(self, conn: socket.socket) -> None:
        self.conn = conn

    def read_frame(self) -> tuple[int, bytes]:
        head = self._exact(2)
        opcode, length = head[0] & 0x0F, head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self._exact(2))[0]
        elif length == 127:
            length = struct.unpack("!Q", self._exact(8))[0]
        mask = self._exact(4) if head[1] & 0x80 else b"\0\0\0\0"
        data = self._exact(length)
        key = (mask * (length // 4 + 1))[:length]
        plain = int.from_bytes(data, "big") ^ int.from_bytes(key, "big")
        return opcode, plain.to_bytes(length, "big")

    def _exact(self, n: int) -> bytes:
        chunks, got = [], 0
        while got < n:
            chunk = self.conn.recv(min(n - got, 1 << 20))
            if not chunk:
                raise ConnectionError("client went away")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    @staticmethod
    def header(opcode: int, length: int) -> bytes:
        if length < 126:
            return bytes([0x80 | opcode, length])
        if length < 1 << 16:
            return bytes([0x80 | opcode, 126]) + struct.pack("!H", length)
        return bytes([0x80 | opcode, 127]) + struct.pack("!Q", length)

    def send_text(self, text: str) -> None:
        data = text.encode()
        self.conn.sendall(self.header(0x1, len(data)) + data)

    def close(self, code: int, reason: str = "") -> None:
        data = code.to_bytes(2, "big") + reason.encode()
        self.conn.sendall(self.header(0x8, len(data)) + data)


def handshake(conn: socket.socket) -> bytes:
    """Read the client's upgrade request and accept it, offering no subprotocol; returns the
    request's head."""
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return request


class OneShotServer:
    """Accepts one client, completes the handshake, then runs `behaviour(peer)` in a thread."""

    def __init__(self, behaviour: Callable[[Peer], None], path: str = "/api/kernels/k/channels"):
        self.behaviour = behaviour
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"ws://127.0.0.1:{self.sock.getsockname()[1]}{path}"
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> OneShotServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
        self.thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            try:
                handshake(conn)
                self.behaviour(Peer(conn))
            except (OSError, ConnectionError) as exc:
                self.error = exc
            finally:
                self.done.set()
