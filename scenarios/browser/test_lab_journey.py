"""The user's own journey in JupyterLab, through the hub and the gateway, in a real browser.

Every other suite speaks REST and WebSocket as Lab would; users click. A spawn form that does
not render the profile's choices, a Launcher without the gateway's kernelspecs (or with local
ones), a kernel whose status never leaves "Connecting", output that never shows in the page:
none of these shows in an API check. Each step is a timed phase (results' metrics
`browser_phase`); the figures a user feels are printed by `python -m eg_harness.browser.figures`.
The times are figures, never asserted.
"""

from __future__ import annotations

import os
import time

import pytest
from eg_harness.browser.lab import (
    EXECUTE_TO_OUTPUT,
    LOGIN_TO_LAB,
    OPEN_TO_IDLE,
    Choice,
    LabJourney,
    describe_failure,
)
from eg_harness.clients.gateway import GatewayClient, GatewayHTTPError
from eg_harness.clients.hub import HubClient
from eg_harness.fixtures.collector import state_of
from eg_harness.runtime.waits import WaitTimeout, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.needs_hub, pytest.mark.slow]

# `EG_HARNESS_BROWSER_REPEATS=N eg-harness run --suite browser`: N journeys, N users, for p50/p95.
REPEATS = max(1, int(os.environ.get("EG_HARNESS_BROWSER_REPEATS", "1")))
TICKS = 5  # short cells per journey: execute-to-output figures
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
TABLE = "Browser journey: phases as the user sees them"
MET = "Browser: what JupyterLab met on the user server"


def _gateway_specs(gateway: GatewayClient) -> dict[str, str] | None:
    """The gateway's kernelspecs, display name -> name; None when the gateway refuses the
    list (then the Launcher is judged on its own)."""
    try:
        specs = gateway.kernelspecs()["kernelspecs"]
    except GatewayHTTPError:
        return None
    return {s["spec"]["display_name"]: name for name, s in specs.items()}


def _gone(gateway: GatewayClient, kernel_id: str) -> bool:
    """Whether the gateway answers 404 for the kernel: asked by id, which a gateway that
    refuses the kernels list (EG_LIST_KERNELS off, as the seed's chart leaves it) answers too."""
    try:
        gateway.get_kernel(kernel_id)
    except GatewayHTTPError as exc:
        if exc.status == 404:
            return True
        raise
    return False


@pytest.mark.parametrize("repeat", range(1, REPEATS + 1))
def test_user_journey_in_lab(
    repeat, page, target, hub, hub_user, hub_pages, gateway, save_diagnostics, request
):
    """Log in, pick the gateway profile's choices on the spawn form, Lab loads, the Launcher
    lists the gateway's kernelspecs only, a notebook's kernel reaches Idle, text, error and rich
    outputs show, interrupt and restart from the menu work, shutting down removes the kernel from
    the gateway, stopping the server from the control panel leaves none behind. What differs
    by target (the hub's URL and pages, the profile and its choices, the timeouts of a spawn and
    of a kernel start) is the target's configuration (hub.pages, hub.user_options,
    hub.spawn_timeout, gateway.launch_timeout)."""
    state = state_of(request.config)
    hcfg = target.hub
    choice = Choice.of(hcfg.user_options, hub_pages)
    journey = LabJourney(
        page,
        hcfg.url,
        hub_user,
        hcfg.profile,
        pages=hub_pages,
        timeout=hcfg.spawn_timeout,
        kernel_timeout=target.gateway.launch_timeout,
    )
    try:
        _journey(journey, choice, target, gateway, hub)
    except BaseException as exc:
        saved = save_diagnostics(journey)
        names = ", ".join(p.name for p in saved)
        where = f" (screenshot and console log in diagnostics/: {names})" if saved else ""
        raise AssertionError(describe_failure(journey, exc) + where) from None
    finally:
        for e in journey.events:
            state.metric(
                "browser_phase", round(e.seconds, 4), "s", phase=e.phase, ok=e.ok, repeat=repeat
            )
            state.table_row(
                TABLE,
                ["test", "phase", "seconds", "ok"],
                [request.node.name, e.phase, round(e.seconds, 3), e.ok],
            )
        log = journey.log
        state.table_row(
            MET,
            ["test", "GET /api/kernelspecs/<name>", "5xx responses", "kernel stuck, page reloaded"],
            [
                request.node.name,
                "; ".join(log.single_kernelspec) or "none requested",
                "; ".join(log.server_errors) or "none",
                "; ".join(f"{step}: {shown}" for step, shown in log.stalls) or "never",
            ],
            note="Lab asks for the kernelspecs list only; a gateway-mode server answers every "
            "GET /api/kernelspecs/<name> with 500. A kernel not Idle 45 s after its notebook "
            "opened is stuck on a stale upstream connection (the WebSocket suite's Lab-style "
            "fallback scenario names the cause): the journey reloads the page, as a user does "
            "(docs/findings-browser.md)",
        )


def _journey(
    journey: LabJourney, choice: Choice, target, gateway: GatewayClient, hub: HubClient
) -> None:
    t0 = time.monotonic()
    journey.log_in()
    journey.spawn_form(choice)
    journey.lab_loads()
    specs = _gateway_specs(gateway)
    listed = journey.launcher_kernelspecs(specs)
    journey.figure(LOGIN_TO_LAB, time.monotonic() - t0)

    name = target.gateway.kernelspec or "python3"
    display = journey.pages.kernelspec_display_name or next(
        (d for d, n in (specs or {}).items() if n == name), None
    )
    if display is None:
        raise AssertionError(f"the gateway offers no kernelspec {name!r} (Launcher: {listed})")
    journey.figure(OPEN_TO_IDLE, journey.open_notebook(display))
    kernel_id = journey.log.kernel_sockets[-1]
    try:
        gateway.get_kernel(kernel_id)
    except GatewayHTTPError as exc:
        raise AssertionError(
            f"the notebook's kernel {kernel_id} is unknown to the gateway ({exc.status}): Lab "
            "started it elsewhere"
        ) from None

    # The API-level figure beside it: a kernel started over REST and WebSocket through the same
    # user server, as the other suites start theirs (a span kernel_start, hop "hub").
    api = hub.user_server(
        journey.user, hub.create_token(journey.user), launch_timeout=target.gateway.launch_timeout
    )
    try:
        api.launch(name, attrs={"beside": "browser journey"}).close()
    finally:
        api.close()

    # What the user typed on the form reaches the kernel's KERNEL_* environment (the seed's
    # driver memory: KERNEL_MEMORY), through the user server and the gateway.
    typed = choice.free_text
    journey.run_cell(
        "import os\nprint('egh-' + str(6 * 7), 'typed:', "
        f"any(v == {typed!r} for k, v in os.environ.items() if k.startswith('KERNEL_')))",
        f"egh-42 typed: {typed is not None}",
    )
    for i in range(TICKS):
        seconds = journey.run_cell(f"print('egh-tick-{i}')", f"egh-tick-{i}")
        journey.figure(EXECUTE_TO_OUTPUT, seconds)
    journey.run_cell("1 / 0", "ZeroDivisionError", selector=STDERR, phase="error_output")
    error = journey.page.locator(STDERR).filter(has_text="ZeroDivisionError").last.inner_text()
    assert "Traceback" in error and "1 / 0" in error, (
        f"browser step 'error_output': the error shows without its traceback: {error[:300]!r}"
    )
    journey.run_cell(
        "from IPython.display import HTML\nHTML('<b class=\"egh-rich\">egh rich 42</b>')",
        "egh rich 42",
        selector=".jp-RenderedHTMLCommon",
        phase="rich_output",
    )
    assert journey.page.locator(".jp-RenderedHTMLCommon b.egh-rich").count(), (
        "browser step 'rich_output': the HTML display shows as text, not rendered"
    )
    journey.interrupt()
    journey.restart()
    assert journey.log.kernel_sockets[-1] == kernel_id, (
        f"browser step 'restart': the kernel came back as {journey.log.kernel_sockets[-1]}, "
        f"not {kernel_id}"
    )
    journey.shut_down()
    wait_for(f"kernel {kernel_id} to leave the gateway", lambda: _gone(gateway, kernel_id),
             journey.kernel_timeout)  # fmt: skip

    journey.figure(OPEN_TO_IDLE, journey.new_notebook_from_launcher(display))
    second = journey.log.kernel_sockets[-1]
    assert second != kernel_id and not _gone(gateway, second), (
        f"browser step 'second_kernel_idle': its kernel {second} is not a new kernel on the gateway"
    )
    journey.stop_server_from_control_panel()
    try:
        wait_for(f"kernel {second} to leave the gateway", lambda: _gone(gateway, second),
                 journey.timeout)  # fmt: skip
    except WaitTimeout:
        raise AssertionError(
            f"browser step 'stop_server': the server stopped from the control panel left kernel "
            f"{second} running on the gateway"
        ) from None
