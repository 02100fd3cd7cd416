"""Kernels start, answer, and their start is timed phase by phase.

"Started" means the kernel answered an execute: EG can answer 201 while the kernel is still
starting, so the span runs requested -> accepted -> channels_open -> kernel_info_reply ->
first_execute_reply (eg_harness.runtime.timing).
"""

from __future__ import annotations

import pytest
from eg_harness.clients.gateway import GatewayHTTPError
from eg_harness.runtime.timing import KERNEL_START_PHASES


def test_each_kernelspec_starts_and_executes(gateway, target):
    """Each kernelspec the target offers for conformance starts and runs code, with a full span."""
    specs = target.conformance_kernelspecs()
    if not specs:
        specs = [gateway.kernelspecs()["default"]]
    offered = set(gateway.kernelspecs()["kernelspecs"])
    missing = [s for s in specs if s not in offered]
    assert not missing, f"kernelspecs {missing} are not offered by the gateway ({sorted(offered)})"
    failures = []
    for spec in specs:
        try:
            handle = gateway.launch(spec)
        except (GatewayHTTPError, AssertionError) as exc:
            failures.append(f"{spec}: {exc}")
            continue
        try:
            info = handle.channels.kernel_info(timeout=30)["content"]
            res = handle.execute("print(6 * 7)")
            if res.status != "ok" or res.stdout.strip() != "42":
                failures.append(
                    f"{spec}: print(6 * 7) gave {res.stdout!r} ({res.describe_error()})"
                )
            if info.get("status") != "ok" or not info.get("language_info", {}).get("name"):
                failures.append(f"{spec}: kernel_info_reply lacks language_info: {info}")
            missing_phases = [p for p in KERNEL_START_PHASES if p not in handle.span.phases]
            if missing_phases:
                failures.append(f"{spec}: start span lacks phases {missing_phases}")
            elif list(handle.span.phases.values()) != sorted(handle.span.phases.values()):
                failures.append(f"{spec}: start span phases out of order {handle.span.phases}")
        finally:
            handle.close()
    assert not failures, "; ".join(failures)


def test_unknown_kernelspec_is_a_clear_error(gateway, target):
    """Asking for a kernelspec that does not exist names it in the error and starts nothing."""
    name = "no-such-kernelspec-eg-harness"

    # Only kernels of this kernelspec count: on a shared stack other tests start kernels while
    # this one runs, and a start of `name` that leaked would be listed under `name`.
    def named() -> set[str]:
        return {k["id"] for k in gateway.list_kernels() if k.get("name") == name}

    before = named() if target.capabilities.list_kernels else None
    with pytest.raises(GatewayHTTPError) as info:
        model = gateway.start_kernel(name)
        gateway.cleanup()
        pytest.fail(f"the gateway started kernel {model['id']} for unknown kernelspec {name!r}")
    exc = info.value
    assert 400 <= exc.status < 600, f"unexpected status for an unknown kernelspec: {exc}"
    # EG 3.3 answers 500 "Unknown server error" and names the kernel only in the traceback's
    # last line (NoSuchKernel); that counts as clear, a bare 500 with no cause does not.
    text = f"{exc.reason} {exc.server_message} {exc.cause}"
    assert name in text or "NoSuchKernel" in text or "No such kernel" in text, (
        f"the error for an unknown kernelspec does not say what is wrong: {exc}"
    )
    print(f"the gateway answered an unknown kernelspec with: {exc}")
    if before is not None:
        after = named()
        assert after <= before, f"the failed start left kernels: {sorted(after - before)}"
