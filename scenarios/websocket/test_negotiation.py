"""Which kernel WebSocket protocol each hop selects, and that a client can live with it.

jupyter_server #1310 / jupyterlab #14977: a client and server that disagree on the protocol
produce undecodable messages and a kernel stuck in "Unknown". The seed pins the user servers
to legacy (kernel_ws_protocol ""), while EG itself accepts v1. Offering v1 to a server that
answers without a subprotocol must fall back to legacy, as Jupyter's own clients do.
"""

from __future__ import annotations

import pytest
from eg_harness.kernel.channels import ChannelsError
from eg_harness.kernel.framing import LEGACY, V1

OFFERS = {"v1": [V1], "nothing": [], "unknown only": ["x-unknown.example.org"]}
TABLE = "WebSocket protocol negotiation per hop"
COLUMNS = ["hop", "offered", "selected", "fallback to legacy", "kernel_info over it"]


@pytest.mark.parametrize("offer", list(OFFERS))
def test_negotiated_protocol_works(hop, hop_kernel, offer, run_state):
    """The hop selects a protocol from those offered (or none), and messages flow in it."""
    offered = OFFERS[offer]
    ch = hop.client.channels(hop_kernel, subprotocols=offered)
    try:
        selected = ch.subprotocol
        assert selected in (*offered, LEGACY), (
            f"{hop.name} selected {selected!r}, which the client did not offer ({offered})"
        )
        try:
            reply = ch.wait_ready(hop.client.launch_timeout)
        except ChannelsError as exc:
            hint = (
                "every v1 message is a binary frame, so binary WebSocket frames are not getting "
                "through this hop"
                if selected == V1
                else "text frames are not getting through"
            )
            raise AssertionError(
                f"{hop.name}: no reply over {selected or 'legacy'}: {hint} ({exc})"
            ) from None
        ok = reply["content"].get("status") == "ok"
        run_state.table_row(
            TABLE,
            COLUMNS,
            [
                hop.name,
                ", ".join(offered) or "(nothing)",
                selected or "legacy (none)",
                "yes" if ch.fell_back else "no",
                "ok" if ok else "FAILED",
            ],
            note="A v1 offer answered without a subprotocol means the server speaks legacy; "
            "the harness then reconnects without an offer, as Jupyter's clients do.",
        )
        assert ok, f"kernel_info over {selected or 'legacy'} on {hop.name} failed: {reply}"
        res = ch.execute("print('negotiated')")
        assert res.stdout.strip() == "negotiated", (
            f"execute over {selected or 'legacy'} on {hop.name} lost its output: {res.iopub}"
        )
    finally:
        ch.close()
