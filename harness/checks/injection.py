"""The verdict on one KERNEL_* injection probe: refused, or arrived intact and inert.

Kept apart from the sending so the rule reads (and is unit-tested) on its own. What was seen is
gathered by the scenario: the start's answer, the bytes each variable holds inside the kernel,
whether the canary file exists (inside the kernel, and on the harness's side where it shares the
machine), Spark conf entries the payload names, and what the kernel pod (on a cluster) gained.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from eg_harness.abuse.injection import SPARK_MARK, Delivery, Payload

INJECTED_KEYS = ("egh_injected",)  # a key a YAML payload adds if its structure is parsed
JINJA_RESULT = "jinja-ran"  # what the Jinja payload's statement leaves when rendered


@dataclass
class Seen:
    status: int | None  # the start's HTTP status (None: no answer)
    message: str = ""
    arrived: dict[str, bytes | None] = field(default_factory=dict)  # variable -> kernel bytes
    canary_in_kernel: bool | None = None  # None: not read (no kernel)
    canary_on_host: bool | None = None  # None: the harness does not share the machine
    canary_in_gateway: bool | None = None  # None: not read (no cluster access)
    spark_conf: dict[str, str] | None = None  # None: not a Spark kernel
    pod_problems: list[str] = field(default_factory=list)
    # How each variable must arrive on this path (abuse.injection.delivery); unnamed: intact.
    delivery: dict[str, Delivery] = field(default_factory=dict)
    # What a start that gave no kernel left on the cluster (e.g. the kernel's namespace);
    # None: not looked at (no cluster, or a kernel started).
    left_behind: list[str] | None = None


def spark_injected(conf: dict[str, str]) -> list[str]:
    """The Spark conf entries a payload added: its mark as a key, or its JVM option."""
    out = [f"{SPARK_MARK}={conf[SPARK_MARK]}"] if SPARK_MARK in conf else []
    out += [f"{k}={v}" for k, v in conf.items() if "-Degh=1" in v]
    return out


def pod_injected(
    pod: dict[str, Any], sent: dict[str, str], delivery: dict[str, Delivery] | None = None
) -> list[str]:
    """What a kernel pod (as the API serialises it) gained from the values sent, and a
    KERNEL_WORKING_DIR the pod holds other than EG's launcher promises (`delivery`: dropped
    means no workingDir and no env entry; intact means both hold the value sent)."""
    delivery = delivery or {}
    problems: list[str] = []

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in INJECTED_KEYS:
                    problems.append(f"the pod gained {where}.{key}")
                if key == "privileged" and value is True:
                    problems.append(f"the pod gained {where}.privileged: true")
                walk(value, f"{where}.{key}")
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{where}[{i}]")

    walk(pod, "pod")
    name = str((pod.get("metadata") or {}).get("name", ""))
    # {{ 7 * 7 }} renders as a leading 49 (a kernel id may hold "49" anywhere else)
    if "KERNEL_POD_NAME" in sent and (name.startswith("49") or JINJA_RESULT in name):
        problems.append(f"the pod name {name!r} shows KERNEL_POD_NAME's Jinja rendered")
    containers = (pod.get("spec") or {}).get("containers") or []
    first = containers[0] if containers else {}
    env = {e.get("name"): e.get("value") for e in (first.get("env") or [])}
    for var, value in sent.items():
        if var in ("KERNEL_POD_NAME",):
            continue  # EG rewrites it into a DNS label by design
        how = delivery.get(var, "intact")
        if how == "dropped" and var in env:
            problems.append(f"the pod's env holds {var}, which EG drops on this path")
        elif var in env and env[var] != value:
            problems.append(f"the pod's env {var} is {env[var]!r}, not the value sent")
    if "KERNEL_WORKING_DIR" in sent:
        how = delivery.get("KERNEL_WORKING_DIR", "intact")
        got = first.get("workingDir")
        value = sent["KERNEL_WORKING_DIR"]
        allowed = {"dropped": (None,), "intact": (value,)}.get(how, (None, value))
        if got not in allowed and how == "dropped":
            problems.append(f"the pod gained workingDir {got!r} though EG drops KERNEL_WORKING_DIR")
        elif got not in allowed:
            problems.append(f"the pod's workingDir is {got!r}, not KERNEL_WORKING_DIR as sent")
    return problems


def judge(payload: Payload, sent: dict[str, str], seen: Seen, canary: str) -> tuple[bool, str]:
    """(passed, why): a 4xx refusal, or every value intact in the kernel with no side effect."""
    problems: list[str] = []
    ran = [
        where
        for where, hit in (
            ("inside the kernel", seen.canary_in_kernel),
            ("on the kernel's machine", seen.canary_on_host),
            ("in the gateway's pod", seen.canary_in_gateway),
        )
        if hit
    ]
    if ran:
        problems.append(f"the payload ran: canary {canary} exists {' and '.join(ran)}")
    if seen.spark_conf is not None:
        added = spark_injected(seen.spark_conf)
        if added:
            problems.append(f"the Spark conf gained an option: {', '.join(added)}")
    problems += seen.pod_problems
    if seen.left_behind:
        problems.append(f"the failed start left {', '.join(seen.left_behind)} behind")
    status = seen.status
    if status is not None and 400 <= status < 500:
        verdict = f"refused ({status})"
    elif status in (200, 201):
        if payload.expect == "refused":
            problems.append("accepted a value it must refuse (no process environment holds it)")
        dropped: list[str] = []
        for var, value in sent.items():
            got = seen.arrived.get(var)
            want = value.encode("utf-8", "surrogateescape")
            how = seen.delivery.get(var, "intact")
            if var == "KERNEL_POD_NAME":
                continue  # rewritten into a DNS label by design; judged on the pod
            if got is None and how != "intact":
                dropped.append(var)
            elif got is None:
                problems.append(f"{var} is missing inside the kernel")
            elif how == "dropped":
                problems.append(f"{var} reached the kernel, though EG drops it on this path")
            elif got != want:
                problems.append(f"{var} arrived changed: {got[:80]!r}, sent {want[:80]!r}")
        verdict = "arrived intact"
        if dropped:
            verdict += f"; {', '.join(dropped)} dropped by EG (working dirs not mirrored)"
    elif status is None:
        problems.append(f"no answer to the start: {seen.message}")
        verdict = "no answer"
    else:
        problems.append(f"answered {status} (neither a refusal nor a start): {seen.message}")
        verdict = f"{status}"
    if problems:
        return False, f"{payload.what}: " + "; ".join(problems)
    return True, verdict
