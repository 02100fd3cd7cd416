"""Free loopback ports, and whether a port is still held after teardown."""

from __future__ import annotations

import random
import socket

# User servers of the local hub take theirs from 20000..HARNESS_LOW-1 (clusters/local/hub/
# profile_spawner.py), so the harness's own picks and the hub's never meet.
HARNESS_LOW = 26000
_issued: set[int] = set()


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A free port that no kernel or outgoing connection can take before its server binds it.

    Port 0 hands out a port from the ephemeral range and lets it go; the component binds it
    seconds later. In between, anything on the machine that binds port 0 or connects out (a
    kernel's ZMQ sockets, an HTTP client) can take it from the same range, and the component
    then dies with "Address already in use" (seen: a hub in a parallel self-test run). Ports
    below that range are only ever taken by explicit choice, so picking one at random there
    and checking it binds leaves a race only with another explicit picker, which the random
    choice in thousands makes rare and the set below rules out within one process.
    """
    low = HARNESS_LOW
    high = max(low + 1000, _ephemeral_low()) - 1
    for _ in range(500):
        port = random.randint(low, high)
        if port in _issued:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _issued.add(port)
        return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0
