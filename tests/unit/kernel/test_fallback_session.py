"""The legacy fallback's session id: the harness takes a fresh one, JupyterLab keeps its own.

A server that answers a v1 offer without a subprotocol gets a second connection; which session
id it carries decides whether a gateway-mode user server meets it with a stale connection
(scenarios/websocket/test_negotiation.py's Lab-style fallback). Real sockets: a server that
declines every offer and records each request line.
"""

from __future__ import annotations

import re
import socket
import threading

from eg_harness.kernel.channels import KernelChannels
from eg_harness.kernel.framing import V1
from ws_server import OneShotServer, handshake


class TwoConnections(OneShotServer):
    """Declines the offer on the first connection (no subprotocol), holds the second open."""

    def __init__(self) -> None:
        super().__init__(lambda peer: None)
        self.requests: list[str] = []
        self.release = threading.Event()
        # handshake() answers before its caller records the request line, so the client can be
        # connected before the list is complete: readers wait for this instead.
        self.recorded = threading.Event()

    def _serve(self) -> None:
        conns = []
        try:
            for _ in range(2):
                conn, _ = self.sock.accept()
                conns.append(conn)
                request = handshake(conn)
                self.requests.append(request.split(b"\r\n", 1)[0].decode())
            self.recorded.set()
            self.release.wait(5)
        except OSError as exc:
            self.error = exc
        finally:
            for conn in conns:
                conn.close()
            self.done.set()


def _sessions(requests: list[str]) -> list[str]:
    return [re.search(r"session_id=([0-9a-f]+)", r).group(1) for r in requests]


def _fallback(keep: bool) -> tuple[KernelChannels, list[str]]:
    server = TwoConnections()
    with server:
        ch = KernelChannels(
            server.url + "?session_id=abc123",
            subprotocols=[V1],
            session="abc123",
            connect_timeout=5,
            keep_session_on_fallback=keep,
        )
        try:
            assert ch.fell_back and ch.subprotocol == "", (ch.fell_back, ch.subprotocol)
            assert server.recorded.wait(5), server.requests
            return ch, _sessions(server.requests)
        finally:
            server.release.set()
            try:
                ch.ws.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            ch.ws.close(timeout=0.1)


def test_the_harness_falls_back_with_a_fresh_session_id():
    ch, sessions = _fallback(keep=False)
    assert sessions[0] == "abc123" and sessions[1] != "abc123", sessions
    assert ch.session == sessions[1]


def test_lab_style_fallback_keeps_the_session_id():
    ch, sessions = _fallback(keep=True)
    assert sessions == ["abc123", "abc123"], sessions
    assert ch.session == "abc123"
