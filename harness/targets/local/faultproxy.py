"""A TCP relay in front of the gateway that breaks WebSockets on purpose (seeded faults).

Real deployments put ingresses and proxies between users and EG; some of them refuse the
WebSocket upgrade or mangle binary frames. This relay reproduces both, so the WebSocket suite
can prove it notices:
- `drop-binary`: after the upgrade, binary data frames (and their continuations) are dropped
  in both directions; text and control frames pass;
- `refuse-upgrade`: a request asking to upgrade to WebSocket gets 403; plain HTTP passes;
- `hang-on-garbage`: once a client sends a text frame that is not JSON, that WebSocket is
  stalled: nothing more is relayed in either direction and nothing is closed (a proxy that
  chokes on a malformed frame and leaves the user's socket hanging);
- `refuse-kernelspecs`: `GET /api/kernelspecs` (the list) gets 403; everything else passes (an
  ingress rule or a gateway that will not list its kernelspecs to user servers).
Run as `python -m harness.faultproxy --listen PORT --upstream PORT --mode MODE`.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import threading

_CHUNK = 65536


def _read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(_CHUNK)
        if not chunk:
            return data
        data += chunk
    return data


def _shut(*socks: socket.socket) -> None:
    for s in socks:
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _pipe(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(_CHUNK):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        _shut(src, dst)


def _recv_exact(sock: socket.socket, n: int, buf: bytearray) -> bytes:
    while len(buf) < n:
        chunk = sock.recv(_CHUNK)
        if not chunk:
            raise ConnectionError("peer closed")
        buf += chunk
    out = bytes(buf[:n])
    del buf[:n]
    return out


# drop-frames: the `stream` messages (counted from 1 per connection, server to client) a lossy
# hop drops. Only outputs, so every reply still arrives; early enough to fall in the first
# 500-output burst of the stress scenario, where the client cannot be a ZMQ high-water mark
# behind the kernel: a loss there is always a hop's. The msg_type is in the header's JSON in
# both the legacy (text) and the v1 (binary) framing.
DROPPED_STREAMS = range(50, 110)
STREAM = re.compile(rb'"msg_type":\s*"stream"')
KERNELSPECS_LIST = re.compile(rb"GET /api/kernelspecs/?(\?\S*)? HTTP/")


def _frame_filter(
    src: socket.socket, dst: socket.socket, buf: bytearray, mode: str = "drop-binary"
) -> None:
    """Relay WebSocket frames, dropping what `mode` says (binary frames, or a run of frames)."""
    dropping, frames = False, 0
    try:
        while True:
            raw, data, opcode, fin = _read_frame(src, buf)
            if mode == "drop-frames":
                if opcode in (0x1, 0x2) and STREAM.search(data):
                    frames += 1
                    if frames in DROPPED_STREAMS:
                        continue
            elif mode == "drop-binary" and opcode == 0x2:
                dropping = not fin  # unfinished binary: drop its continuations
                continue
            if opcode == 0x0 and dropping:
                dropping = not fin
                continue
            dst.sendall(raw)
    except (OSError, ConnectionError):
        pass
    finally:
        _shut(src, dst)


def _read_frame(sock: socket.socket, buf: bytearray) -> tuple[bytes, bytes, int, bool]:
    """(raw frame bytes, unmasked payload, opcode, fin) of the next WebSocket frame."""
    head = _recv_exact(sock, 2, buf)
    opcode, fin, masked, length = (
        head[0] & 0x0F,
        bool(head[0] & 0x80),
        head[1] & 0x80,
        head[1] & 0x7F,
    )
    ext = b""
    if length == 126:
        ext = _recv_exact(sock, 2, buf)
        length = int.from_bytes(ext, "big")
    elif length == 127:
        ext = _recv_exact(sock, 8, buf)
        length = int.from_bytes(ext, "big")
    mask = _recv_exact(sock, 4, buf) if masked else b""
    payload = _recv_exact(sock, length, buf)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if mask else payload
    return head + ext + mask + payload, data, opcode, fin


def _stall_on_garbage(client: socket.socket, up: socket.socket) -> None:
    """Relay a WebSocket until the client sends a complete text frame that is not JSON; from
    then on swallow everything both ways and close nothing."""
    stalled = threading.Event()

    def down() -> None:
        try:
            while chunk := up.recv(_CHUNK):
                if not stalled.is_set():
                    client.sendall(chunk)
        except OSError:
            pass

    threading.Thread(target=down, daemon=True).start()
    buf = bytearray()
    try:
        while True:
            raw, data, opcode, fin = _read_frame(client, buf)
            if stalled.is_set():
                continue
            if opcode == 0x1 and fin:
                try:
                    json.loads(data)
                except ValueError:
                    stalled.set()
                    continue
            up.sendall(raw)
    except (OSError, ConnectionError):
        pass
    finally:
        _shut(client, up)


def _handle(client: socket.socket, upstream_port: int, mode: str) -> None:
    with client:
        head = _read_head(client)
        if not head:
            return
        upgrade = b"upgrade: websocket" in head.lower()
        if mode == "refuse-kernelspecs" and KERNELSPECS_LIST.match(head):
            body = b'{"reason": "Forbidden", "message": "the kernelspecs list is refused here"}'
            client.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            return
        if upgrade and mode == "refuse-upgrade":
            body = b'{"reason": "Forbidden", "message": "WebSocket upgrades are refused here"}'
            client.sendall(
                b"HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
                b"Content-Length: "
                + str(len(body)).encode()
                + b"\r\nConnection: close\r\n\r\n"
                + body
            )
            return
        with socket.create_connection(("127.0.0.1", upstream_port)) as up:
            up.sendall(head)
            if upgrade and mode == "hang-on-garbage":
                client.sendall(_read_head(up))
                _stall_on_garbage(client, up)
                return
            if upgrade and mode in ("drop-binary", "drop-frames"):
                resp = _read_head(up)
                client.sendall(resp)
                t = threading.Thread(
                    target=_frame_filter, args=(up, client, bytearray(), mode), daemon=True
                )
                t.start()
                # Client to server: only drop-binary filters that direction.
                _frame_filter(client, up, bytearray(), mode if mode == "drop-binary" else "relay")
                t.join(5)
                return
            t = threading.Thread(target=_pipe, args=(up, client), daemon=True)
            t.start()
            _pipe(client, up)
            t.join(5)


def serve(listen_port: int, upstream_port: int, mode: str) -> None:
    srv = socket.create_server(("127.0.0.1", listen_port), reuse_port=False)
    srv.listen(128)
    while True:
        client, _ = srv.accept()
        threading.Thread(target=_handle, args=(client, upstream_port, mode), daemon=True).start()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--listen", type=int, required=True)
    ap.add_argument("--upstream", type=int, required=True)
    modes = [
        "drop-binary",
        "drop-frames",
        "refuse-upgrade",
        "hang-on-garbage",
        "refuse-kernelspecs",
    ]
    ap.add_argument("--mode", choices=modes, required=True)
    args = ap.parse_args()
    serve(args.listen, args.upstream, args.mode)


if __name__ == "__main__":
    main()
