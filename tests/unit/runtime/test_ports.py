"""The harness's ports come from outside the range port 0 and outgoing connections use.

A hub once died with "Address already in use" in a parallel self-test run: its port, picked
by binding port 0, was taken by something else on the machine before the hub bound it.
"""

import socket

from eg_harness.runtime import ports


def test_free_ports_are_below_the_ephemeral_range_and_never_repeat():
    low = ports._ephemeral_low()
    picked = [ports.free_port() for _ in range(200)]
    assert len(set(picked)) == len(picked)
    if low > ports.HARNESS_LOW + 1000:
        assert all(ports.HARNESS_LOW <= p < low for p in picked)


def test_a_held_port_is_not_handed_out(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        held.listen()
        choices = iter([port, port, port])
        fallback = ports.HARNESS_LOW + 7

        def pick(a, b):
            return next(choices, fallback)

        monkeypatch.setattr(ports.random, "randint", pick)
        ports._issued.discard(fallback)
        if ports.port_in_use(fallback):
            return
        assert ports.free_port() == fallback
