"""Which NetworkPolicies guard a pod, and the verdict on two probes of the gateway: from a
user's pod (must connect) and from an unlabelled pod of another namespace (must not, where a
policy guards the gateway and the cluster enforces policies).

Pure functions of V1NetworkPolicy and V1LabelSelector objects (the client's own models).
"""

from __future__ import annotations

from dataclasses import dataclass

from eg_harness.runtime.text import clip


def selector_matches(selector, labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics: every matchLabels pair and every matchExpression
    must hold; an empty selector matches everything."""
    if selector is None:
        return True
    for key, value in (selector.match_labels or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.match_expressions or []:
        values = expr.values or []
        present = expr.key in labels
        if expr.operator == "In" and not (present and labels[expr.key] in values):
            return False
        if expr.operator == "NotIn" and present and labels[expr.key] in values:
            return False
        if expr.operator == "Exists" and not present:
            return False
        if expr.operator == "DoesNotExist" and present:
            return False
    return True


def policies_guarding(policies: list, labels: dict[str, str], direction: str = "Ingress") -> list:
    """The policies of the pod's namespace that select it for `direction` (Ingress/Egress).
    A policy without policyTypes is an ingress policy, and an egress one too if it has egress
    rules (the API server's defaulting)."""
    out = []
    for pol in policies:
        types = pol.spec.policy_types or (["Ingress"] + (["Egress"] if pol.spec.egress else []))
        if direction in types and selector_matches(pol.spec.pod_selector, labels):
            out.append(pol)
    return out


@dataclass
class Probe:
    """One connection attempt to the gateway's service from inside a pod."""

    source: str  # e.g. "user pod jupyterhub/jupyter-egh-x"
    connected: bool
    output: str


def user_reach_problems(probe: Probe, target: str) -> list[str]:
    if probe.connected:
        return []
    return [
        f"{probe.source} cannot reach the gateway at {target} ({clip(probe.output.strip(), 200)}): "
        "a network policy blocks it (z2jh's singleuser egress denies private IPs unless an "
        "egress rule allows the gateway)"
    ]


def outsider_problems(probe: Probe, target: str, guarding: list) -> list[str]:
    if not probe.connected:
        return []
    names = ", ".join(p.metadata.name for p in guarding)
    return [
        f"{probe.source} reached the gateway at {target} although NetworkPolicy {names} guards "
        "it: the policy lets it in, or the cluster does not enforce policies"
    ]
