"""The per-run helm values the kind target lays over the deployment's own values files.

The deployment's files (clusters/kind/enterprise-gateway-values.yaml, jupyterhub-profile/) stay
what an operator would install; what only this run knows (fresh tokens, the content-hash image
references, the network rule the chart's policy needs, node ports) goes into overlay files
passed after them. Every key an overlay sets has its reason beside it, printed as comments in
the overlay and by --dry-run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import yaml

# z2jh 3.2.1's own defaults for the single-user network policy (values.yaml of the chart):
# enabled, and private IPs (which include every ClusterIP and pod IP) not allowed as egress.
Z2JH_SINGLEUSER_POLICY_DEFAULTS = {"enabled": True, "egressAllowRules": {"privateIPs": False}}

HUB_SERVICE = "eg-harness"
HUB_SERVICE_SCOPES = [
    "admin:users",
    "admin:servers",
    "tokens",
    "access:servers",
    "read:servers",
    "list:users",
    "read:users",
    "read:metrics",  # /hub/metrics, sampled during a bench (as the local hub's role allows)
]


@dataclass(frozen=True)
class Overlay:
    """A values file of this run: the values, and why each dotted key is set."""

    name: str
    values: dict[str, Any]
    reasons: dict[str, str]

    def render(self) -> str:
        head = [f"# {self.name}: written by eg-harness for this run only (mode 0600)."]
        head += [f"# {key}: {why}" for key, why in self.reasons.items()]
        return "\n".join(head) + "\n" + yaml.safe_dump(self.values, sort_keys=False)


def leaf_keys(values: dict[str, Any], prefix: str = "") -> list[str]:
    keys = []
    for key, value in values.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            keys += leaf_keys(value, dotted)
        else:
            keys.append(dotted)
    return keys


def _set(values: dict[str, Any], dotted: str, value: Any) -> None:
    node = values
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value


def _get(values: dict[str, Any], dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def gateway_overlay(
    *, token: str, kernelspecs_ref: str, node_port: int | None, base: dict[str, Any]
) -> Overlay:
    values: dict[str, Any] = {}
    reasons: dict[str, str] = {}

    def put(key: str, value: Any, why: str) -> None:
        _set(values, key, value)
        reasons[key] = why

    put("authToken", token, "the seed's per-instance token, fresh for this run, as a string")
    put(
        "kernelspecs.image",
        kernelspecs_ref,
        "the seed's <KERNEL SPEC IMAGE>, built here and loaded into the node",
    )
    if node_port is None:
        # A reused cluster may hold another NodePort service on the same number.
        ports = copy.deepcopy(_get(base, "service.ports", []))
        for port in ports:
            port.pop("nodePort", None)
        put("service.type", "ClusterIP", "reused cluster: reached by kubectl port-forward")
        put("service.ports", ports, "the base file's ports without fixed node ports")
    return Overlay("gateway overlay", values, reasons)


def gateway_egress_blocked(hub_values: dict[str, Any], eg_namespace: str) -> bool:
    """Whether z2jh's single-user network policy, as these values leave it, stops a user pod
    from reaching the gateway's ClusterIP service in another namespace."""
    policy = _get(hub_values, "singleuser.networkPolicy", {}) or {}
    enabled = policy.get("enabled", Z2JH_SINGLEUSER_POLICY_DEFAULTS["enabled"])
    if not enabled:
        return False
    if (policy.get("egressAllowRules") or {}).get("privateIPs", False):
        return False
    for rule in policy.get("egress") or []:
        for peer in rule.get("to") or [{}]:
            labels = _get(peer, "namespaceSelector.matchLabels", {}) or {}
            if labels.get("kubernetes.io/metadata.name") == eg_namespace or peer == {}:
                return False
    return True


def gateway_egress_rule(eg_namespace: str, port: int = 8888) -> dict[str, Any]:
    return {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": eg_namespace}},
                "podSelector": {"matchLabels": {"gateway-selector": "enterprise-gateway"}},
            }
        ],
        "ports": [{"port": port, "protocol": "TCP"}],
    }


def hub_run_values(
    *, api_token: str, gateway_token: str, singleuser_ref: str, image_note: str
) -> tuple[dict[str, Any], dict[str, str], Callable[[str, Any, str], None]]:
    """What only this run knows of any hub install (its service token and role, the gateway's
    token, the single-user image built here), and `put` to add a provider's own keys."""
    values: dict[str, Any] = {}
    reasons: dict[str, str] = {}

    def put(key: str, value: Any, why: str) -> None:
        _set(values, key, value)
        reasons[key] = why

    put(
        f"hub.services.{HUB_SERVICE}.apiToken",
        api_token,
        "the harness's hub service token, fresh for this run",
    )
    put(
        f"hub.loadRoles.{HUB_SERVICE}",
        {"scopes": HUB_SERVICE_SCOPES, "services": [HUB_SERVICE]},
        "what the harness may do: create and remove users, tokens and servers",
    )
    put(
        "hub.extraEnv.EG_AUTH_TOKEN",
        gateway_token,
        "the gateway's token, which extra-config.py hands to gateway-mode user servers",
    )
    name, tag = singleuser_ref.rsplit(":", 1)
    put("singleuser.image.name", name, "the single-user image built here")
    put("singleuser.image.tag", tag, "its content-hash tag (never latest)")
    put("singleuser.image.pullPolicy", "IfNotPresent", image_note)
    return values, reasons, put


def hub_overlay(
    *,
    api_token: str,
    gateway_token: str,
    singleuser_ref: str,
    node_port: int | None,
    base: dict[str, Any],
    eg_namespace: str,
) -> tuple[Overlay, bool]:
    """The hub's overlay, and whether it had to open the network policy to the gateway."""
    values, reasons, put = hub_run_values(
        api_token=api_token,
        gateway_token=gateway_token,
        singleuser_ref=singleuser_ref,
        image_note="kind: the image is loaded into the node, there is no registry",
    )
    put(
        "prePuller.hook.enabled",
        False,
        "kind: the images are loaded already; the pre-pull hook only delays the install",
    )
    put("prePuller.continuous.enabled", False, "kind: as above, for the continuous puller")
    put(
        "scheduling.userScheduler.enabled",
        False,
        "kind: one node, so packing user pods buys nothing",
    )
    if node_port is None:
        put("proxy.service.type", "ClusterIP", "reused cluster: reached by kubectl port-forward")
    else:
        put("proxy.service.type", "NodePort", "kind: the node port is mapped to 127.0.0.1")
        put("proxy.service.nodePorts.http", node_port, "the port kind-config.yaml maps")
    blocked = gateway_egress_blocked(base, eg_namespace)
    if blocked:
        rules = list(_get(base, "singleuser.networkPolicy.egress", []) or [])
        put(
            "singleuser.networkPolicy.egress",
            [*rules, gateway_egress_rule(eg_namespace)],
            "z2jh's default policy denies egress to private IPs, which include the "
            "gateway's ClusterIP: without this rule user pods cannot reach the gateway "
            "(the seed's install needs it too)",
        )
    return Overlay("hub overlay", values, reasons), blocked
