"""Per-hop fixtures for the WebSocket suite: every scenario runs directly at the gateway and,
when the target has a hub, through hub -> single-user server -> gateway.

The two hops speak different protocols on purpose (the seed forces the user servers to the
legacy protocol), so "a message survives every hop" must be shown on each hop separately.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eg_harness.clients.gateway import GatewayClient
from eg_harness.kernel.framing import V1

OFFERS = {"v1": [V1], "none": []}


@dataclass
class Hop:
    name: str
    client: GatewayClient
    kernelspec: str | None

    def channels(self, kernel_id: str, offer: str = "v1", **kw):
        return self.client.channels(kernel_id, subprotocols=OFFERS[offer], **kw)


@pytest.fixture(params=["gateway", "hub"])
def hop(request, target) -> Hop:
    """One hop of the data path, with a client that removes its kernels afterwards."""
    if request.param == "gateway":
        yield Hop("gateway", request.getfixturevalue("gateway"), target.gateway.kernelspec)
    else:
        server = request.getfixturevalue("module_user_server")
        yield Hop("hub", server.client, target.gateway.kernelspec)
        server.client.cleanup()


@pytest.fixture
def hop_kernel(hop):
    """A started kernel on this hop (its id); its channels are the test's business."""
    model = hop.client.start_kernel(hop.kernelspec)
    try:
        yield model["id"]
    finally:
        hop.client.shutdown_quietly(model["id"])


@pytest.fixture(params=["v1", "none"])
def offer(request) -> str:
    """What the client offers in Sec-WebSocket-Protocol: v1, or nothing (legacy)."""
    return request.param


@pytest.fixture
def chans(hop, hop_kernel, offer):
    """Channels to a ready kernel on this hop, in whatever protocol the hop chose for `offer`."""
    ch = hop.channels(hop_kernel, offer, connect_timeout=hop.client.launch_timeout)
    try:
        ch.wait_ready(hop.client.launch_timeout)
        yield ch
    finally:
        ch.close()
