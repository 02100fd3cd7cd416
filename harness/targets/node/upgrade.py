"""The node target at EG release A, upgradable to B by its chart with live users on it.

`eg-harness upgrade --target node --from 3.2.3 --to 3.3.0`: the cluster comes up as the node
target's always does, but with release A's chart (from A's sdist, clusters/node/eg-releases.json)
and A's images (the gateway image from A's wheel under A's gateway lock, the kernelspecs and
kernel image from A's sdist: images.py follows the sdist's release). The upgrade step is the
seed's own install command again with B's chart, B's gateway image and B's kernelspecs image,
the same values files and the same token: the command an operator re-runs to upgrade. B's images
are built and imported before the step (`stage_release`), as an operator pushes images before
upgrading, so the step measures the helm upgrade and the rollout, not a build.
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path

import httpx
from eg_harness.errors import ConfigError, TargetUnavailable
from eg_harness.runtime import secrets
from eg_harness.runtime import versions as version_sets
from eg_harness.runtime.timing import Span
from eg_harness.runtime.versions import Versions
from eg_harness.runtime.waits import WaitTimeout, wait_for
from eg_harness.targets.chartupgrade import ChartUpgrade
from eg_harness.targets.kind.egdist import EgDist, ensure_eg_dist
from eg_harness.targets.kind.pins import Pins
from eg_harness.targets.kind.pins import load_pins as load_kind_pins
from eg_harness.targets.node import install, kept
from eg_harness.targets.node.pins import NODE_DIR
from eg_harness.targets.node.target import GATEWAY_ANSWERS_S, HELM_TIMEOUT, NodeTarget
from eg_harness.targets.node.values import NODE_EG_VALUES, gateway_overlay, write_overlay
from eg_harness.targets.upgradable import Upgradable

RELEASES = NODE_DIR / "eg-releases.json"
# What the node target's hub and user servers run (clusters/node/hub/images.json: the hub and
# singleuser images). Fixed on this target: an upgrade here changes the gateway only.
NODE_HUB_VERSIONS = {"hub": "4.0.2", "jupyter_server": "2.21.1", "jupyterlab": "4.6.6"}


def node_versions(gateway: str) -> Versions:
    """The node target's stack as the upgrade's version set: EG `gateway`, the fixed hub side."""
    return Versions(gateway=gateway, **NODE_HUB_VERSIONS)


@cache
def _releases(path: Path = RELEASES) -> dict:
    return json.loads(path.read_text())


def known_releases() -> list[str]:
    return sorted({load_kind_pins().eg["version"], *_releases()["releases"]})


def release_pins(version: str) -> Pins:
    """The kind pins with EG's entry at `version`: today's release is the kind pins' own; another
    is clusters/node/eg-releases.json's sdist and sha256, with the same chart path."""
    kind = load_kind_pins()
    if version == kind.eg["version"]:
        return kind
    release = _releases()["releases"].get(version)
    if release is None:
        raise ConfigError(
            f"EG {version} is not a release the node target can install (known: "
            f"{', '.join(known_releases())}): add its sdist name and sha256 to "
            "clusters/node/eg-releases.json"
        )
    eg = {**kind.eg, "version": version, "chart_path": _releases()["chart_path"], **release}
    return Pins({**kind.raw, "enterprise_gateway": eg})


def release_dist(version: str, progress=print) -> EgDist:
    """Release `version`'s sdist, fetched and checked against its pinned sha256 once."""
    return ensure_eg_dist(progress, release_pins(version))


class NodeUpgradeTarget(NodeTarget, ChartUpgrade, Upgradable):
    """The node target brought up at EG `origin` (chart, gateway image and kernelspecs of that
    release); `upgrade_chart` moves it to another release in place. Always a cluster of its own
    (never a kept one: the upgrade changes the install). Without Spark: the users' kernels are
    python kernels, and Spark's gateway image for release A is not built here (the local
    upgrade covers Spark kernels across the gateway's restart)."""

    with_spark = False
    # eg-harness upgrade: the chart upgraded by helm; the user servers may be restarted after.
    upgrade_steps = ("gateway-chart", "user-servers")
    default_upgrade_steps = ("gateway-chart",)
    default_upgrade_suite = "quick"
    refuses_cleanup_servers = (
        "the node target's hub keeps z2jh's cleanup_servers=False; drop the option or use "
        "--target local"
    )

    @classmethod
    def upgrade_releases(cls, origin: str | None, dest: str | None) -> tuple[Versions, Versions]:
        """Two gateway releases the node target can install (A defaults to the previous
        minor, B to today's pin) over its fixed hub side: a set that names another hub or
        user server, the same release twice or an unknown one is a ConfigError."""
        a = version_sets.parse(origin, node_versions(version_sets.DEFAULT_FROM["gateway"]))
        b = version_sets.parse(dest, node_versions(version_sets.current().gateway))
        for flag, v in (("--from", a), ("--to", b)):
            if v != node_versions(v.gateway):
                raise ConfigError(
                    f"{flag} {v.label()}: the node target upgrades the gateway only (its hub and "
                    "user servers are fixed); give the gateway's release, e.g. --from 3.2.3"
                )
            release_pins(v.gateway)  # an unknown release: ConfigError naming eg-releases.json
        if a.gateway == b.gateway:
            raise ConfigError(
                f"--from and --to are both EG {a.gateway}: give two releases, e.g. "
                "--from 3.2.3 --to 3.3.0"
            )
        return a, b

    def __init__(
        self,
        *,
        versions: Versions,
        run_id: str | None = None,
        faults: list[str] | None = None,
        **kwargs,
    ) -> None:
        """`versions` is the upgrade's A (`node_versions`: what moves is its gateway); `run_id`
        and `faults` are named so `make_target(spec, upgrade=True)` passes the spec's own."""
        origin = versions.gateway
        release_pins(origin)  # an unknown release is a ConfigError before anything starts
        super().__init__(run_id=run_id, faults=faults, **kwargs)
        self.eg_version = origin
        self.stack_versions = node_versions(origin)
        self._staged: dict[str, dict[str, str]] = {}  # version -> image refs

    def eg_dist(self, progress=print) -> EgDist:
        return release_dist(self.eg_version, progress)

    def _provision(self, span: Span, progress) -> None:
        doc = kept.find()
        if doc is not None:
            raise TargetUnavailable(
                f"a node cluster is kept (run {doc['run_id']}) and only one may exist: the upgrade "
                "brings up its own at release A; end the kept one with `eg-harness down` first"
            )
        super()._provision(span, progress)

    def stage_release(self, version: str, progress=print) -> None:
        if version in self._staged:
            return
        eg = release_dist(version, progress)
        self._staged[version] = self._images(eg, progress)

    def upgrade_chart(self, version: str, progress=print) -> list[str]:
        if self.cluster is None or self.gateway is None:
            raise TargetUnavailable("the node cluster is not provisioned: nothing to upgrade")
        self.stage_release(version, progress)
        refs = self._staged[version]
        eg = release_dist(version, progress)
        overlay = write_overlay(
            gateway_overlay(gateway_ref=refs["enterprise-gateway"]),
            self.work / f"enterprise-gateway-overlay-{version}.yaml",
        )
        argv = install.helm_argv(
            self.helm(progress)[0],
            self.cluster.kubeconfig,
            eg.chart_dir,
            token=self.gateway.token or "",
            kernelspecs_ref=refs["kernelspecs"],
            values=[NODE_EG_VALUES, overlay],
            timeout_s=HELM_TIMEOUT,
        )
        progress(f"upgrading EG to {version} with its chart: " + secrets.redact(" ".join(argv)))
        t0 = time.monotonic()
        install.run(argv, HELM_TIMEOUT + 60, f"helm upgrade of {install.RELEASE} to {version}")
        helm_s = time.monotonic() - t0
        self.figures["helm_upgrade_s"] = helm_s
        answered_s = self._wait_release(version) - t0
        self.eg_version = version
        self.stack_versions = node_versions(version)
        self._versions["enterprise_gateway chart"] = eg.version
        self._versions["enterprise_gateway image"] = refs["enterprise-gateway"]
        self._versions["kernelspecs image"] = refs["kernelspecs"]
        return [
            f"helm upgrade --atomic returned after {helm_s:.1f}s; the Service answered as "
            f"{version} {answered_s:.1f}s after it started"
        ]

    def _wait_release(self, version: str) -> float:
        """Until the gateway's Service answers as `version` (a fresh connection each time, so
        kube-proxy picks an endpoint anew); the monotonic time it did."""
        assert self.gateway is not None
        url, token = self.gateway.url, self.gateway.token or ""

        def answers_as_b() -> bool:
            try:
                resp = httpx.get(
                    f"{url}/api", headers={"Authorization": f"token {token}"}, timeout=5
                )
            except httpx.HTTPError:
                return False
            if resp.status_code != 200:
                return False
            found = str(resp.json().get("gateway_version"))
            self._versions["enterprise_gateway"] = found
            return found == version

        try:
            wait_for(f"EG {version} at {url}/api", answers_as_b, GATEWAY_ANSWERS_S, max_interval=1)
        except WaitTimeout as exc:
            raise TargetUnavailable(
                f"helm upgraded the release to {version} but the gateway's Service does not "
                f"answer as {version} ({exc}): see the namespace report in diagnostics/node"
            ) from None
        return time.monotonic()
