"""The bad-input machinery on hand-made input: the catalogue's shape, the exact bytes a case
sends, WebSocket frames, the verdict rule, answers read from real sockets with bounds, and the
fault proxy that stalls on a malformed frame."""

from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from eg_harness.abuse import send, wire
from eg_harness.abuse.catalogue import CASES, CATALOGUE, LAYERS, items
from eg_harness.checks.abuse import verdict
from eg_harness.clients.gateway import GatewayClient
from eg_harness.targets.local.faultproxy import _stall_on_garbage

# -- the catalogue ---------------------------------------------------------------------------


def test_catalogue_has_at_least_60_requests_with_unique_ids():
    assert len(CASES) == len(CATALOGUE), "duplicate case ids"
    assert len(items()) >= 60
    ids = [f"{layer}-{case.id}" for case, layer in items()]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("case", CATALOGUE, ids=lambda c: c.id)
def test_every_case_is_complete(case):
    assert case.layers and set(case.layers) <= set(LAYERS)
    assert set(case.known) <= set(case.layers), "a known defect on a layer the case skips"
    if case.websocket:
        assert case.expect in ("contained", "released")
    else:
        assert case.path or case.raw_request, "a REST case needs a path or a raw request"
        assert case.expect in ("4xx", "held")
    for known in case.known.values():
        # A finding cites the component and where in it, so it can be checked and fixed.
        assert any(
            name in known.cause
            for name in ("EG ", "jupyter_server", "tornado", "configurable-http-proxy")
        ), known.cause
        assert known.observed


def test_the_catalogue_covers_what_the_issue_lists():
    covered = {c.id.split("-")[0] for c in CATALOGUE}
    assert {"start", "env", "id", "method", "traversal", "http", "ws", "session"} <= covered
    assert any(c.fill >= 20 * 1024 * 1024 for c in CATALOGUE), "no huge body"
    assert any(c.after == "drop" for c in CATALOGUE), "no half-open WebSocket"
    assert any(c.expect == "held" for c in CATALOGUE), "no half-open request"


# -- what goes on the wire -------------------------------------------------------------------

LAYER = send.Layer("gateway", GatewayClient("http://127.0.0.1:9/base", "tok"), "k-123", "python3")


def test_a_case_is_sent_exactly_as_written():
    data = send.request_bytes(CASES["traversal-literal"], LAYER)
    line = data.split(b"\r\n", 1)[0].decode()
    assert line == "GET /base/kernelspecs/python3/../../../../../../etc/passwd HTTP/1.1"
    assert b"Authorization: token tok\r\n" in data


def test_placeholders_and_json_bodies_are_filled():
    data = send.request_bytes(CASES["start-path-int"], LAYER)
    head, body = data.split(b"\r\n\r\n", 1)
    assert json.loads(body) == {
        "name": "python3",
        "path": 5,
        "env": {"KERNEL_USERNAME": "egh-abuse"},
    }
    assert f"Content-Length: {len(body)}".encode() in head
    missing = send.request_bytes(CASES["id-missing"], LAYER).split(b"\r\n", 1)[0]
    assert missing == b"GET /base/api/kernels/00000000-0000-0000-0000-000000000000 HTTP/1.1"


def test_lying_lengths_fills_and_raw_requests():
    short = send.request_bytes(CASES["http-body-short"], LAYER)
    assert b"Content-Length: 1024\r\n" in short and short.endswith(b'{"name": "')
    huge = send.request_bytes(CASES["env-value-20mib"], LAYER)
    assert len(huge) > 20 * 1024 * 1024
    assert send.request_bytes(CASES["start-not-utf8"], LAYER).endswith(b'\xff\xfe{"name": 1}')
    raw = send.request_bytes(CASES["http-bad-version"], LAYER)
    assert raw.startswith(b"GET /base/api HTTP/9.9\r\n") and b"token tok" in raw


def test_frames_mask_and_lie_as_asked():
    f = wire.frame(wire.TEXT, b"hello")
    assert f[0] == 0x81 and f[1] == 0x80 | 5
    key, body = f[2:6], f[6:]
    assert bytes(b ^ key[i % 4] for i, b in enumerate(body)) == b"hello"
    assert wire.frame(wire.TEXT, b"x", masked=False) == b"\x81\x01x"
    big = wire.frame(wire.TEXT, b"0123", declared_length=4 * 1024**3)
    assert big[1] == 0x80 | 127 and int.from_bytes(big[2:10], "big") == 4 * 1024**3
    assert wire.frame(wire.TEXT, b"a", fin=False)[0] == 0x01


def test_message_frames_patch_a_kernel_info_request():
    base = {"header": {"msg_type": "kernel_info_request", "msg_id": "1"}, "channel": "shell"}
    no_header = send.frame_bytes(CASES["ws-no-header"].frames[0], base)
    assert b"header" not in _unmask(no_header)
    typed = send.frame_bytes(CASES["ws-msg-type-unknown"].frames[0], base)
    msg = json.loads(_unmask(typed))
    assert msg["header"] == {"msg_type": "frobnicate_request", "msg_id": "1"}


def _unmask(frame: bytes) -> bytes:
    n = frame[1] & 0x7F
    start = 2 + {126: 2, 127: 8}.get(n, 0)
    key = frame[start : start + 4]
    return bytes(b ^ key[i % 4] for i, b in enumerate(frame[start + 4 :]))


# -- the verdict -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expect", "obs", "ok", "words"),
    [
        ("4xx", wire.Observation("answered", 400, "bad"), True, "clear 4xx"),
        ("4xx", wire.Observation("answered", 404), True, "clear 4xx"),
        ("4xx", wire.Observation("answered", 400, traceback="KeyError"), False, "traceback"),
        ("4xx", wire.Observation("answered", 500), False, "server error"),
        ("4xx", wire.Observation("answered", 201), False, "accepted it: 201"),
        ("4xx", wire.Observation("answered", 302), False, "accepted it: 302"),
        ("4xx", wire.Observation("closed"), False, "closed without an answer"),
        ("4xx", wire.Observation("hung"), False, "no answer within 30.0s: a hang"),
        ("contained", wire.Observation("closed", close_code=1009), True, "code 1009"),
        ("contained", wire.Observation("answered"), True, "still answers"),
        ("contained", wire.Observation("hung", bound_s=6.4), False, "no close within 6.4s"),
        ("held", wire.Observation("held"), True, "held open"),
        ("held", wire.Observation("answered", 400), True, "refused at once"),
        ("held", wire.Observation("answered", 500), False, "answered 500"),
        ("released", wire.Observation("released"), True, "let go"),
        ("released", wire.Observation("kept", message="1 -> 2 -> 2"), False, "not let go"),
    ],
)
def test_verdict(expect, obs, ok, words):
    got, why = verdict(expect, obs, 30.0)
    assert got is ok and words in why, why


# -- answers from real sockets, with bounds --------------------------------------------------


class OneShotServer:
    """A listening socket that does one thing with its first connection."""

    def __init__(self, behaviour) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.behaviour = behaviour
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.sock.accept()
        with conn:
            conn.recv(65536)
            self.behaviour(conn)

    def close(self) -> None:
        self.sock.close()


def _answer(conn) -> None:
    body = json.dumps({"message": "Unknown server error", "traceback": "T\nKeyError: 'x'\n"})
    conn.sendall(
        f"HTTP/1.1 500 Internal Server Error\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode()
    )


def _silent(conn) -> None:
    conn.settimeout(2)
    try:
        conn.recv(1)
    except OSError:
        pass


@pytest.mark.parametrize(
    ("behaviour", "outcome"), [(_answer, "answered"), (_silent, "hung"), (lambda c: None, "closed")]
)
def test_exchange_reads_an_answer_a_hang_or_a_close(behaviour, outcome):
    server = OneShotServer(behaviour)
    try:
        t0 = time.monotonic()
        obs = wire.exchange(server.url, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bound=0.5)
        assert obs.outcome == outcome
        assert time.monotonic() - t0 < 5
        if outcome == "answered":
            assert obs.status == 500 and obs.traceback == "KeyError: 'x'"
            assert obs.message == "Unknown server error"
    finally:
        server.close()


def test_held_request_reports_an_early_refusal():
    def refuse(conn):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

    server = OneShotServer(refuse)
    try:
        with wire.held(server.url, b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n", 2) as obs:
            server.thread.join(5)
        assert (obs.outcome, obs.status) == ("answered", 400)
    finally:
        server.close()


# -- the fault proxy that stalls ---------------------------------------------------------------


def test_hang_on_garbage_relays_json_then_swallows_everything_and_closes_nothing():
    client, proxy_side = socket.socketpair()
    upstream_side, upstream = socket.socketpair()
    t = threading.Thread(target=_stall_on_garbage, args=(proxy_side, upstream_side), daemon=True)
    t.start()
    good = wire.frame(wire.TEXT, b'{"a": 1}')
    client.sendall(good)
    upstream.settimeout(5)
    assert upstream.recv(65536) == good
    upstream.sendall(b"reply")
    client.settimeout(5)
    assert client.recv(65536) == b"reply"
    client.sendall(wire.frame(wire.TEXT, b"{not json") + good)
    upstream.settimeout(0.5)
    with pytest.raises(TimeoutError):
        upstream.recv(65536)
    upstream.sendall(b"late reply")
    client.settimeout(0.5)
    with pytest.raises(TimeoutError):
        client.recv(65536)
    assert t.is_alive(), "the stalled relay closed the connection"
    for s in (client, upstream):
        s.close()
    t.join(5)
    for s in (proxy_side, upstream_side):
        s.close()
