"""What a user's stopped server left on the gateway, judged from observed facts (pure).

A user server the hub stops (its stop button, jupyterhub-idle-culler, KubeSpawner deleting the
pod) must shut its kernels down on the gateway before it exits: jupyter_server in gateway mode
deletes each through the gateway (GatewayMappingKernelManager.shutdown_all) when it gets
SIGTERM. A server killed first (a grace period shorter than that shutdown, an entrypoint that
swallows SIGTERM) leaves its kernels running on the gateway, unreachable for the user (a new
server does not adopt them) and holding their resources until the gateway's culler reaps them:
never where it does not cull, 12 hours with EG's image default (EG_CULL_IDLE_TIMEOUT 43200).
"""

from __future__ import annotations

from dataclasses import dataclass

# A kernel the server deleted answers 404 before the hub reports the server gone (the server
# waits for each DELETE); this much more covers the hub's own poll of the stopped server.
SETTLE_S = 5.0
# The longest wait for the gateway's culler a run accepts: timeout plus two culler rounds.
CULL_FITS_S = 180.0


@dataclass(frozen=True)
class KernelAfterStop:
    """One kernel the server had when the hub stopped it."""

    kernel_id: str
    kernelspec: str
    # Seconds from the stop request until the gateway answered 404 for it; None: still there
    # when the watch ended.
    gone_s: float | None


@dataclass(frozen=True)
class StopFacts:
    user: str
    stop_s: float  # the hub's stop call until the hub said the server was gone
    watched_s: float  # how long after the stop request the gateway was watched
    kernels: tuple[KernelAfterStop, ...]
    grace_period: float | None = None  # the spawner's, where the target says it
    cull_idle_timeout: float | None = None  # the gateway's, where the target says it
    cull_interval: float | None = None

    def outlived(self) -> list[KernelAfterStop]:
        """The kernels still on the gateway after the server was gone (and the settle time)."""
        limit = self.stop_s + SETTLE_S
        return [k for k in self.kernels if k.gone_s is None or k.gone_s > limit]


def culler_fits(timeout: float | None, interval: float | None) -> float | None:
    """The wait (seconds) within which the gateway's culler must reap an idle kernel, when the
    target's config says a culling that acts within CULL_FITS_S; else None."""
    if not timeout or timeout <= 0:
        return None
    bound = timeout + 2 * (interval if interval else 300.0)
    return bound if bound <= CULL_FITS_S else None


def culler_wait(fits: float) -> float:
    """How long a run waits for a culler that must act within `fits` seconds: twice that, at
    least 10 s more, so a busy machine lengthens the wait and does not flip the verdict."""
    return fits + max(10.0, fits)


def culling_text(timeout: float | None, interval: float | None) -> str:
    if timeout is None:
        return "the gateway's culling is not known (gateway.cull_idle_timeout in the target config)"
    if timeout <= 0:
        return "the gateway does not cull idle kernels (cull_idle_timeout 0, EG's default)"
    every = f", every {interval:g}s" if interval else ""
    return f"the gateway culls kernels idle {timeout:g}s{every}"


def describe_kernels(facts: StopFacts) -> str:
    """Each kernel's fate after the stop, for the findings table."""
    parts = []
    for k in facts.kernels:
        if k.gone_s is None:
            parts.append(
                f"{k.kernel_id} ({k.kernelspec}) still running {facts.watched_s:.0f}s later"
            )
        elif k.gone_s <= facts.stop_s + SETTLE_S:
            parts.append(
                f"{k.kernel_id[:8]} ({k.kernelspec}) deleted {k.gone_s:.1f}s into the stop"
            )
        else:
            parts.append(
                f"{k.kernel_id} ({k.kernelspec}) left behind, gone {k.gone_s:.0f}s after the stop "
                "request (culled)"
            )
    return "; ".join(parts)


def failure(facts: StopFacts) -> str | None:
    """The failure message naming the kernels that outlived the stopped server and the fix, or
    None when the server shut every kernel down before it was gone."""
    left = facts.outlived()
    if not left:
        return None
    grace = (
        f"{facts.grace_period:g}s here"
        if facts.grace_period is not None
        else "not known here: hub.delete_grace_period in the target config"
    )
    fates = ", ".join(
        f"{k.kernel_id} ({k.kernelspec}, "
        + (
            f"still running {facts.watched_s:.0f}s after the stop request"
            if k.gone_s is None
            else f"culled {k.gone_s:.0f}s after the stop request"
        )
        + ")"
        for k in left
    )
    return (
        f"{len(left)} kernel(s) outlived {facts.user}'s stopped server on the gateway: {fates}; "
        f"the hub's stop took {facts.stop_s:.1f}s and the server was gone before it shut them "
        "down. Fix: give the server time to shut its kernels down on SIGTERM (the spawner's "
        f"grace period, KubeSpawner's delete_grace_period: {grace}); let SIGTERM reach the "
        "server's own shutdown (no entrypoint that swallows it; jupyter_server deletes its "
        "gateway kernels on SIGTERM, not on SIGKILL); and have the gateway's culler reap what a "
        f"killed server leaves (EG_CULL_IDLE_TIMEOUT: "
        f"{culling_text(facts.cull_idle_timeout, facts.cull_interval)})"
    )
