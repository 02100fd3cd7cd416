"""Who a kernel runs as: the hub user's name reaches the kernel, and forbidden users are refused.

EG trusts KERNEL_USERNAME from the start request; the hub's spawner must put the user's own
name there (EG #661: every user appearing as jovyan), and EG must refuse the names it is
told to (EG_UNAUTHORIZED_USERS, root by default) with 403 and start nothing.
"""

from __future__ import annotations

import pytest
from eg_harness.clients.gateway import GatewayHTTPError

WHOAMI = "import os; print(repr(os.environ.get('KERNEL_USERNAME')))"


def test_kernel_carries_hub_user_name(user_server, target):
    """A kernel started through a hub user's server sees that user's name as KERNEL_USERNAME."""
    try:
        handle = user_server.client.launch(target.gateway.kernelspec)
    except GatewayHTTPError as exc:
        pytest.fail(
            f"starting a kernel through {user_server.name}'s server failed: {exc}. "
            "If the gateway refused a user, the hub did not pass KERNEL_USERNAME "
            f"(expected {user_server.name!r}) and the gateway fell back to another identity"
        )
    try:
        seen = handle.execute(WHOAMI).stdout.strip()
    finally:
        handle.close()
    assert seen == repr(user_server.name), (
        f"the kernel started for hub user {user_server.name!r} sees KERNEL_USERNAME={seen}: "
        "the hub does not pass the user's identity to the gateway"
    )


# Serial: it compares the gateway's whole kernel list before and after, which another worker's
# scenarios change on a shared stack (a refused start carries no kernel id to look up).
@pytest.mark.serial
def test_unauthorized_users_refused(gateway, target, kernelspec):
    """Each user the gateway must refuse gets 403, and no kernel is left running for them."""
    users = target.gateway.unauthorized_users
    if not users:
        pytest.skip("the target declares no unauthorized users")
    before = {k["id"] for k in gateway.list_kernels()} if target.capabilities.list_kernels else None
    accepted = []
    for user in users:
        try:
            model = gateway.start_kernel(kernelspec, {"KERNEL_USERNAME": user})
        except GatewayHTTPError as exc:
            assert exc.status == 403, (
                f"starting a kernel as {user!r} failed with {exc.status}, expected 403: {exc}"
            )
            assert user in exc.reason or user in exc.server_message, (
                f"the 403 for {user!r} does not name the user: {exc}"
            )
            continue
        accepted.append(f"{user!r} (kernel {model['id']})")
    gateway.cleanup()
    assert not accepted, (
        f"the gateway started kernels for unauthorized user(s) {', '.join(accepted)}: "
        "EG_UNAUTHORIZED_USERS is not enforced, so anyone can run kernels as root"
    )
    if before is not None:
        after = {k["id"] for k in gateway.list_kernels()}
        assert after <= before, f"refused starts left kernels running: {sorted(after - before)}"
