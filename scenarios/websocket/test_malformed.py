"""Malformed input: the server answers or drops it, never crashes, never disturbs others.

A kernel WebSocket is an open door into a shared server; a bad frame from one client must not
take down the gateway (or a user server) or the kernels of other users.
"""

from __future__ import annotations

import json
import time

import pytest
import websocket
from eg_harness.kernel import messages as m
from eg_harness.kernel.framing import encode_legacy, encode_v1

OVERSIZED_MIB = 12  # tornado's default websocket_max_message_size is 10 MiB


def _frames(session: str) -> dict[str, tuple[bytes | str, bool]]:
    good = m.execute_request("1", session=session)
    unknown = dict(good, channel="no-such-channel")
    v1 = encode_v1(good)
    bad_offsets = bytearray(v1)
    bad_offsets[16:24] = (len(v1) * 4).to_bytes(8, "little")  # second offset past the end
    big = m.execute_request("#" + "x" * (OVERSIZED_MIB * 1024 * 1024), session=session)
    return {
        "invalid JSON": ("{this is not json", False),
        "unknown channel": (json.dumps(unknown), False),
        "truncated v1 frame": (v1[:20], True),
        "v1 frame with bad offsets": (bytes(bad_offsets), True),
        f"{OVERSIZED_MIB} MiB message": (encode_legacy(big)[0], False),
    }


def _observe(ws: websocket.WebSocket, seconds: float) -> str:
    """What the server did within `seconds`: closed (with code), answered, or nothing."""
    deadline = time.monotonic() + seconds
    answers = []
    while time.monotonic() < deadline:
        ws.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            opcode, data = ws.recv_data(control_frame=True)
        except websocket.WebSocketTimeoutException:
            break
        except (websocket.WebSocketException, OSError) as exc:
            return f"connection dropped ({type(exc).__name__})"
        if opcode == websocket.ABNF.OPCODE_CLOSE:
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            return f"closed with code {code}"
        if opcode in (websocket.ABNF.OPCODE_TEXT, websocket.ABNF.OPCODE_BINARY):
            answers.append(opcode)
    return f"kept open, {len(answers)} message(s) in reply" if answers else "ignored (kept open)"


@pytest.mark.stress
@pytest.mark.parametrize("case", list(_frames("x")))
def test_malformed_frame_is_contained(hop, hop_kernel, case, run_state, target):
    """After the bad frame, the gateway, this kernel and another kernel all still work."""
    bystander = hop.client.launch(hop.kernelspec)  # another user's kernel, in spirit
    try:
        ch = hop.channels(hop_kernel, "v1")
        ch.wait_ready(hop.client.launch_timeout)
        protocol = ch.subprotocol or "legacy"
        payload, binary = _frames(ch.session)[case]
        try:
            if binary:
                ch.ws.send_binary(payload)
            else:
                ch.ws.send(payload)
            outcome = _observe(ch.ws, 3.0)
        except (websocket.WebSocketException, OSError) as exc:
            outcome = f"send failed ({type(exc).__name__}: connection closed)"
        finally:
            ch.close()
        run_state.table_row(
            "Malformed input",
            ["hop", "protocol", "input", "server did"],
            [hop.name, protocol, case, outcome],
        )
        assert hop.client.api_info(), "the server stopped answering /api"
        again = hop.channels(hop_kernel, "v1")
        try:
            again.wait_ready(hop.client.launch_timeout)
            assert again.execute("print('alive')").stdout.strip() == "alive", (
                f"the kernel that got {case!r} no longer executes"
            )
        finally:
            again.close()
        res = bystander.execute("print('undisturbed')")
        assert res.stdout.strip() == "undisturbed", f"{case!r} disturbed another kernel"
        direct = target.gateway.client()
        try:
            assert direct.api_info()["gateway_version"], "the gateway stopped answering"
        finally:
            direct.close()
    finally:
        bystander.close()
