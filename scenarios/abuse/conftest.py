"""Fixtures of the bad-input suite: the two layers a case is sent to, a bystander of another
user, and the kernels the deployment runs (counted before and after every case).

Bad input may disturb other users of a shared deployment (a hung worker, a crashed server), so
on an existing target the bad-input cases run only with `allow_destructive`; the KERNEL_*
injection probes touch only the harness's own kernels and run everywhere.
"""

from __future__ import annotations

import time

import pytest
from eg_harness.abuse.send import Layer
from eg_harness.kernel.channels import ChannelsError
from eg_harness.runtime.processes import kernel_processes
from eg_harness.targets.abilities import ProcessView


@pytest.fixture
def destructive_allowed(target):
    """Bad input may disturb other users: the bad-input cases ask for this (the injection
    probes touch only the harness's own kernels and do not)."""
    if not target.capabilities.destructive_allowed:
        pytest.skip(
            "bad input may disturb other users of the target: set allow_destructive: true "
            "(or --allow-destructive) to send it"
        )


class Bystander:
    """Another user's live kernel on the gateway, with a socket of theirs held open.

    Before each case the socket is touched (a kernel_info, which also answers the gateway's
    pings; one that idled out before the case is reopened without blame); after the case the
    same socket must still execute. So a bad input that drops other users' sockets, or stalls
    the gateway, shows as this user's failure."""

    IDLE_S = 10.0  # well inside the gateway's ping timeout (at least 30 s in tornado)

    def __init__(self, client, kernel_id: str) -> None:
        self.client, self.kernel_id = client, kernel_id
        self.ch = None
        self.used = 0.0

    def ready(self, timeout: float) -> None:
        if self.ch is not None and time.monotonic() - self.used < self.IDLE_S:
            return  # used by the last case's probe moments ago
        if self.ch is not None:
            try:
                self.ch.kernel_info(timeout=timeout)
                return
            except ChannelsError:
                self.ch.close()
                self.ch = None
        self.ch = self.client.channels(self.kernel_id, connect_timeout=timeout)
        self.ch.wait_ready(timeout)

    def execute(self, code: str, timeout: float) -> str:
        out = self.ch.execute(code, timeout=timeout).stdout.strip()
        self.used = time.monotonic()
        return out

    def close(self) -> None:
        if self.ch is not None:
            self.ch.close()


@pytest.fixture(scope="module")
def bystander(target):
    client = target.gateway.client(username="egh-abuse-bystander")
    handle = client.launch(target.gateway.kernelspec)
    handle.channels.close()
    try:
        watcher = Bystander(client, handle.id)
        yield watcher
        watcher.close()
    finally:
        client.cleanup()
        client.close()


@pytest.fixture(scope="module")
def layers(target, request):
    """name -> Layer, made on first use: the gateway with its token, and a gateway-mode user
    server behind the hub's proxy with its user's token; each with a live kernel of its own."""
    made: dict[str, Layer] = {}
    clients = []

    def get(name: str) -> Layer:
        if name not in made:
            if name == "gateway":
                client = target.gateway.client(username="egh-abuse")
                clients.append(client)
            else:
                if target.hub is None:
                    pytest.skip(
                        target.no_hub_reason
                        or "the target has no hub (add a hub: section to the target config)"
                    )
                client = request.getfixturevalue("module_user_server").client
            spec = target.gateway.kernelspec or "python3"
            model = client.start_kernel(spec)
            made[name] = Layer(name, client, model["id"], spec)
        return made[name]

    yield get
    # The hub layer's kernel goes with its user server (module_user_server cleans up).
    if "gateway" in made:
        made["gateway"].client.shutdown_quietly(made["gateway"].kernel_id)
    for client in clients:
        client.cleanup()
        client.close()


class Running:
    """What runs on the deployment: kernels the gateway lists and kernels the layer lists. A
    case must leave both as it found them (kernel processes are compared once for the module:
    scanning every process per case would cost more than the cases)."""

    def __init__(self, target, layer: Layer) -> None:
        self.target, self.layer = target, layer
        self.gateway = target.gateway.client()

    def snapshot(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        if self.target.capabilities.list_kernels:
            out["gateway kernels"] = {k["id"] for k in self.gateway.list_kernels()}
        if self.layer.name != "gateway":
            out[f"{self.layer.name} kernels"] = {k["id"] for k in self.layer.client.list_kernels()}
        return out

    def remove(self, kernel_ids: set[str]) -> None:
        for kernel_id in kernel_ids:
            self.layer.client.shutdown_quietly(kernel_id)
            self.gateway.shutdown_quietly(kernel_id)

    def close(self) -> None:
        self.gateway.close()


@pytest.fixture(scope="module")
def processes_at_start(target, bystander):
    """Kernel processes before the first case (the bystander's included), with a process view."""
    if not isinstance(target, ProcessView):
        return None
    return kernel_processes(target.run_processes())


@pytest.fixture
def running(target):
    made: list[Running] = []

    def make(layer: Layer) -> Running:
        made.append(Running(target, layer))
        return made[-1]

    yield make
    for r in made:
        r.close()
