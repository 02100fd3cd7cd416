"""Hub users cannot reach each other's kernels, and a token without server access reaches none.

The user server is the gateway's only gatekeeper for users (EG itself trusts anyone holding
its token), so a hole here is a hole into every user's kernels.
"""

from __future__ import annotations

import httpx
import pytest
import websocket
from eg_harness.clients.gateway import GatewayClient


def _refused(status: int) -> bool:
    # 401/403 are refusals; a 302 to the login page is the hub's refusal for browsers.
    return status in (401, 403, 302)


def _probe_all(client: GatewayClient, kernel_id: str) -> list[str]:
    """Requests that must all be refused; returns those that were not."""
    leaks = []
    for method, path in [
        ("GET", "/api/kernels"),
        ("GET", f"/api/kernels/{kernel_id}"),
        ("GET", "/api/kernelspecs"),
        ("POST", "/api/kernels"),
        ("POST", f"/api/kernels/{kernel_id}/interrupt"),
    ]:
        body = {} if method == "POST" else None
        resp = client.request(method, path, json=body)
        if not _refused(resp.status_code):
            leaks.append(f"{method} {path} -> {resp.status_code}")
            if method == "POST" and path == "/api/kernels" and resp.status_code == 201:
                client.created.append(resp.json()["id"])
    try:
        ws = websocket.create_connection(
            client.ws_url(kernel_id), header=client.ws_headers(), timeout=30
        )
        ws.close()
        leaks.append("WS channels -> 101")
    except websocket.WebSocketBadStatusException as exc:
        if not _refused(exc.status_code):
            leaks.append(f"WS channels -> {exc.status_code}")
    return leaks


def _probe_as(hub, owner: str, token: str | None, kernel_id: str) -> list[str]:
    """Probe `owner`'s server holding `token`; whatever it wrongly starts is removed."""
    client = hub.user_server(owner, token)
    try:
        return _probe_all(client, kernel_id)
    finally:
        client.cleanup()
        client.close()


@pytest.fixture
def victim_kernel(user_server, target):
    handle = user_server.client.launch(target.gateway.kernelspec)
    try:
        yield handle
    finally:
        handle.close()


def test_other_users_token_refused(user_server, victim_kernel, hub, new_hub_user):
    """Another hub user's own token cannot list, start, reach or interrupt this user's kernels."""
    with new_hub_user("other") as other:
        token = hub.create_token(other)  # what a normal user holds: their default scopes
        leaks = _probe_as(hub, user_server.name, token, victim_kernel.id)
    assert not leaks, f"user {other!r} reached {user_server.name!r}'s server: {'; '.join(leaks)}"


def test_token_without_server_access_refused(user_server, victim_kernel, hub):
    """The user's own token, scoped without access:servers, reaches none of their kernels."""
    token = hub.create_token(user_server.name, scopes=[f"read:users!user={user_server.name}"])
    leaks = _probe_as(hub, user_server.name, token, victim_kernel.id)
    assert not leaks, f"a token without access:servers reached the user server: {'; '.join(leaks)}"


def test_unauthenticated_refused(user_server, victim_kernel, hub):
    """No credentials at all: the user server refuses every kernel request."""
    leaks = _probe_as(hub, user_server.name, None, victim_kernel.id)
    assert not leaks, f"an unauthenticated client reached the user server: {'; '.join(leaks)}"


def test_own_token_reaches_own_kernel(user_server, victim_kernel):
    """The control for the refusals above: the owner's token does reach the kernel."""
    try:
        model = user_server.client.get_kernel(victim_kernel.id)
    except httpx.HTTPError as exc:  # pragma: no cover - network failure is a failure
        pytest.fail(f"the owner could not reach their own kernel: {exc}")
    assert model["id"] == victim_kernel.id
