"""Seeded faults on a kept node cluster's live install, and their undo.

A run on a kept cluster (kept.py) cannot bake its faults into a fresh install, so it changes
the running one the way an operator's mistake would reach it, and puts it back when it ends:

- a change to the kernelspecs image (`kernel_pod_template_drops`, `kernelspec_file_drops`):
  the image rebuilt with it (seeded.py, the very image a fresh install would get), imported
  into containerd, and given to the
  release by `helm upgrade --reuse-values --set kernelspecs.image=...`; undone by `helm
  rollback` to the revision before (EG's pod restarts either way, as an operator's upgrade
  restarts it).
- `gateway_role_revokes`: the rights taken from the gateway's ClusterRole (seeded.py); undone
  by writing the rules back as they were read.
- `hub_profile_unsets`: keys gone from the hub profile's kubespawner_override in the hub's
  values Secret, the hub restarted (seeded.seed_hub); undone by the Secret's values as they
  were and another restart (seeded.restore_hub).

A fault record that changes anything else cannot be seeded on a live install yet: the run
fails before changing anything, naming the fields (`unsupported`), rather than running
without its fault.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from eg_harness.errors import ConfigError, HarnessError
from eg_harness.targets.faults import Fault
from eg_harness.targets.kind.images import Image
from eg_harness.targets.node import install, seeded

Progress = Callable[[str], None]

# The fault fields a live install can take (and their undo); `targets`, the texts and the
# catches describe a fault, they change nothing.
KERNELSPECS_FIELDS = ("kernel_pod_template_drops", "kernelspec_file_drops")
LIVE_FIELDS = (*KERNELSPECS_FIELDS, "gateway_role_revokes", "hub_profile_unsets")
DESCRIPTIVE = ("name", "description", "symptom", "caught_by", "targets")
HELM_TIMEOUT_S = 300
KUBECTL_TIMEOUT_S = 30


def unsupported(fault: Fault) -> list[str]:
    """The fields `fault` sets that a kept cluster's live install cannot take."""
    defaults = Fault.model_fields
    return sorted(
        name
        for name in fault.model_fields_set
        if name not in LIVE_FIELDS
        and name not in DESCRIPTIVE
        and getattr(fault, name) != defaults[name].get_default(call_default_factory=True)
    )


class LiveFaults:
    """This run's faults on the kept install: `apply`, then `undo` (last change first)."""

    def __init__(
        self,
        faults: Sequence[Fault],
        kubectl: Sequence[str],
        helm: Sequence[str],
        progress: Progress = print,
        *,
        hub_namespace: str = "jupyterhub",
        hub_profile: str = "jupyter-gateway",
    ) -> None:
        problems = {f.name: unsupported(f) for f in faults}
        problems = {k: v for k, v in problems.items() if v}
        if problems:
            raise ConfigError(
                "cannot seed on a kept node cluster: "
                + "; ".join(f"{k} changes {', '.join(v)}" for k, v in problems.items())
                + " (only "
                + ", ".join(LIVE_FIELDS)
                + " on a live install): run it without `eg-harness up --target node` keeping "
                "a cluster, or teach harness/targets/node/livefaults.py that change"
            )
        self.faults = list(faults)
        self.kubectl = list(kubectl)
        self.helm = list(helm)
        self.progress = progress
        self.hub_namespace = hub_namespace
        self.hub_profile = hub_profile
        self._undo: list[tuple[str, Callable[[], object]]] = []

    def apply(
        self,
        chart: Path,
        kernelspecs: Callable[[], Image],
        import_image: Callable[[Image, Progress], None],
    ) -> None:
        """Change the live install; on a failure part-way, what was changed is undone."""
        try:
            self._apply(chart, kernelspecs, import_image)
        except BaseException:
            self.undo()
            raise

    def _apply(self, chart, kernelspecs, import_image) -> None:
        if any(getattr(f, name, ()) for f in self.faults for name in KERNELSPECS_FIELDS):
            image = kernelspecs()
            import_image(image, self.progress)
            before = install.revision(self.helm, KUBECTL_TIMEOUT_S)
            argv = install.upgrade_argv(
                self.helm, chart, kernelspecs_ref=image.ref, values=[], timeout_s=HELM_TIMEOUT_S
            )
            self.progress(f"seeded fault: the release's kernelspecs image is now {image.ref}")
            self._undo.append(
                (
                    f"helm rollback of {install.RELEASE} to revision {before}",
                    lambda: install.run(
                        install.rollback_argv(self.helm, before, HELM_TIMEOUT_S),
                        HELM_TIMEOUT_S + 60,
                        f"helm rollback of {install.RELEASE} to revision {before}",
                    ),
                )
            )
            install.run(argv, HELM_TIMEOUT_S + 60, "helm upgrade with the seeded fault")
        revokes = [r for f in self.faults for r in f.gateway_role_revokes]
        if revokes:
            rules = install.role_rules(self.kubectl, KUBECTL_TIMEOUT_S)
            self._undo.append(
                (
                    f"ClusterRole {install.GATEWAY_ROLE} restored",
                    lambda: install.set_role_rules(self.kubectl, rules, KUBECTL_TIMEOUT_S),
                )
            )
            self.progress(f"seeded fault: taking {', '.join(revokes)} from {install.GATEWAY_ROLE}")
            seeded.revoke_rights(self.kubectl, revokes, KUBECTL_TIMEOUT_S)
        if any(getattr(f, "hub_profile_unsets", ()) for f in self.faults):
            before = seeded.seed_hub(
                self.kubectl,
                self.faults,
                self.hub_namespace,
                self.hub_profile,
                progress=self.progress,
            )
            if before is not None:
                self._undo.append(
                    (
                        f"the hub's values in {self.hub_namespace} restored",
                        lambda: seeded.restore_hub(self.kubectl, self.hub_namespace, before),
                    )
                )

    def undo(self) -> list[str]:
        """Put the install back; returns what could not be put back (the run's leftovers)."""
        left = []
        while self._undo:
            what, fn = self._undo.pop()
            self.progress(f"reverting the seeded fault: {what}")
            try:
                fn()
            except HarnessError as exc:
                left.append(f"{what} failed: {exc}")
        return left
