"""HubClient.remove_user against a hub that answers as JupyterHub does while a server stops:
the user's server entry stays (pending "stop") and DELETE /users/<name> is refused with 400
until the stop ends (seen on the node cluster: a user pod's stop outlasting the bound)."""

from __future__ import annotations

import json

import httpx
import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.clients.hub import HubClient

STOPPING = {"message": "egh-u's server is in the process of stopping, please wait."}


class Hub:
    """The hub's side: the server stops only after the user's deletion was refused once (so
    the first bound always ends with the stop under way), or never (`never`)."""

    def __init__(self, *, never: bool = False, refuse: dict | None = None) -> None:
        self.never, self.refuse = never, refuse
        self.refusals, self.deleted = 0, False

    def stopping(self) -> bool:
        return self.never or self.refusals == 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        if method == "DELETE" and path.endswith("/server"):
            return httpx.Response(202)
        if method == "GET":
            servers = {"": {"pending": "stop"}} if self.stopping() else {}
            return httpx.Response(200, json={"name": "egh-u", "servers": servers})
        if method == "DELETE":
            if self.refuse is not None:
                return httpx.Response(400, json=self.refuse)
            if self.stopping():
                self.refusals += 1
                return httpx.Response(400, json=STOPPING)
            self.deleted = True
            return httpx.Response(204)
        return httpx.Response(405)


def _client(hub: Hub) -> HubClient:
    client = HubClient("http://hub.invalid", "t0ken")
    client.http = httpx.Client(transport=httpx.MockTransport(hub))
    return client


def test_a_stop_that_outlasts_the_bound_is_waited_for_before_the_user_goes():
    hub = Hub()
    _client(hub).remove_user("egh-u", timeout=0.3)
    assert (hub.refusals, hub.deleted) == (1, True)


def test_a_stop_that_never_ends_fails_the_removal_naming_the_wait():
    hub = Hub(never=True)
    with pytest.raises(Exception, match="finish stopping"):
        _client(hub).remove_user("egh-u", timeout=0.3)
    assert not hub.deleted


def test_another_refusal_is_raised_as_it_came():
    client = _client(Hub(refuse={"message": "no such thing"}))
    with pytest.raises(GatewayHTTPError) as exc:
        client.remove_user("egh-u", timeout=0.3)
    assert exc.value.status == 400 and json.dumps("no such thing")[1:-1] in str(exc.value)
