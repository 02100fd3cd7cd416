"""Which kernel WebSocket protocol each hop selects, and that a client can live with it.

jupyter_server #1310 / jupyterlab #14977: a client and server that disagree on the protocol
produce undecodable messages and a kernel stuck in "Unknown". The seed pins the user servers
to legacy (kernel_ws_protocol ""), while EG itself accepts v1. Offering v1 to a server that
answers without a subprotocol must fall back to legacy, as Jupyter's own clients do.
"""

from __future__ import annotations

import time

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
            reply = _ready(hop, hop_kernel, ch)
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


QUICK_S = 5.0  # a ready kernel answers kernel_info in well under a second


def _ready(hop, kernel_id: str, ch):
    """kernel_info over `ch`; a v1 socket that stays silent is checked against the legacy
    protocol on the same kernel instead of waited on for the whole launch timeout.

    The kernel was just started, so silence alone cannot tell a hop that drops binary frames
    from a kernel still booting. A legacy socket can: once the same kernel has answered over
    it, the kernel is up, and the v1 socket gets one more short window (its kernel_info is
    sent again) before its silence is the hop's fault. A correct but busy stack only waits
    longer; a broken one is named in seconds, not the launch timeout.
    """
    timeout = hop.client.launch_timeout
    if ch.subprotocol != V1:
        return ch.wait_ready(timeout)
    try:
        return ch.wait_ready(min(QUICK_S, timeout))
    except ChannelsError:
        pass
    control = hop.client.channels(kernel_id, subprotocols=[])
    try:
        t0 = time.monotonic()
        try:
            control.wait_ready(timeout)
        except ChannelsError as exc:
            raise AssertionError(
                f"{hop.name}: kernel {kernel_id} answers over neither v1 nor legacy ({exc})"
            ) from None
        legacy_s = time.monotonic() - t0
    finally:
        control.close()
    try:
        return ch.wait_ready(QUICK_S)
    except ChannelsError as exc:
        raise ChannelsError(
            f"{exc}; the same kernel answered kernel_info over legacy in {legacy_s:.1f}s"
        ) from None
