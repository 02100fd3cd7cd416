"""Verdicts on kernel pods: whose they are, where they run, what they were given, and that they
are gone when their kernel is.

Pure functions of the kubernetes client's own model objects (V1Pod, CoreV1Event), so the same
code judges a live cluster and, in the unit tests, the JSON a real cluster returns. Each
problem is a sentence naming the pod, the expected and the observed value.
"""

from __future__ import annotations

import re
from decimal import Decimal

# Where a pod may carry its user's name: EG's kernel-pod.yaml.j2 puts every KERNEL_* of the
# start request into the container's env; a customised template may also label or annotate.
USERNAME_KEYS = ("KERNEL_USERNAME", "kernel_username", "hub.jupyter.org/username")


def dns_label(text: str) -> str:
    """EG's rewrite of a pod name (k8s.py _determine_kernel_pod_name): lower case, every run of
    other characters one dash, no dash at either end."""
    return re.sub("[^0-9a-z]+", "-", text.lower()).strip("-")


def pod_ref(pod) -> str:
    return f"{pod.metadata.namespace}/{pod.metadata.name}"


def container_env(pod) -> dict[str, str]:
    """The first container's plain env values (EG's launcher puts KERNEL_* there)."""
    containers = pod.spec.containers or []
    if not containers:
        return {}
    return {e.name: e.value for e in containers[0].env or [] if e.value is not None}


def usernames_on(pod) -> dict[str, str]:
    """Every place the pod names a user: env, labels and annotations, by where it was found."""
    found = {}
    env = container_env(pod)
    labels = pod.metadata.labels or {}
    annotations = pod.metadata.annotations or {}
    for key in USERNAME_KEYS:
        if key in env:
            found[f"env {key}"] = env[key]
        if key in labels:
            found[f"label {key}"] = labels[key]
        if key in annotations:
            found[f"annotation {key}"] = annotations[key]
    return found


def expected_namespaces(
    kernel_id: str, username: str, gateway_namespace: str, shared: bool | None
) -> set[str]:
    """Where EG 3.3 puts a kernel's pod (k8s.py _determine_kernel_namespace): the gateway's own
    namespace when it is shared, else a new one named like the pod, `<user>-<kernel id>`."""
    own = dns_label(f"{username}-{kernel_id}")
    if shared is True:
        return {gateway_namespace}
    if shared is False:
        return {own}
    return {gateway_namespace, own}


def identity_problems(pods: list, kernel_id: str, username: str, namespaces: set[str]) -> list[str]:
    """The kernel is exactly one pod, in an expected namespace, that names its user."""
    if not pods:
        return [f"no pod is labelled kernel_id={kernel_id}: the kernel is not a pod"]
    problems = []
    if len(pods) > 1:
        problems.append(
            f"{len(pods)} pods are labelled kernel_id={kernel_id}: "
            + ", ".join(pod_ref(p) for p in pods)
        )
    pod = pods[0]
    if pod.metadata.namespace not in namespaces:
        problems.append(
            f"pod {pod_ref(pod)} runs in namespace {pod.metadata.namespace!r}, expected "
            + " or ".join(repr(n) for n in sorted(namespaces))
        )
    names = usernames_on(pod)
    if not names:
        problems.append(
            f"pod {pod_ref(pod)} names no user (no KERNEL_USERNAME in its env, labels or "
            f"annotations): expected {username!r}"
        )
    else:
        wrong = {where: v for where, v in names.items() if v != username}
        if wrong:
            problems.append(
                f"pod {pod_ref(pod)} names user "
                + ", ".join(f"{v!r} ({where})" for where, v in wrong.items())
                + f", expected {username!r} (every user appearing as one, EG #661?)"
            )
    if not pod.metadata.name.startswith(dns_label(username)):
        problems.append(
            f"pod name {pod.metadata.name!r} does not start with the user's name "
            f"{dns_label(username)!r} (EG names kernel pods <KERNEL_USERNAME>-<kernel id>)"
        )
    return problems


def leftover_problems(pods: list, kernel_id: str, namespaces_left: list[str]) -> list[str]:
    """After shutdown nothing of the kernel may remain: no pod (EG #932), and no namespace EG
    made for it."""
    problems = [
        f"pod {pod_ref(p)} of kernel {kernel_id} is still there after shutdown (phase "
        f"{p.status.phase if p.status else '?'}"
        + (", terminating" if p.metadata.deletion_timestamp else "")
        + "): an orphan pod (EG #932)"
        for p in pods
    ]
    problems += [
        f"namespace {ns} that EG created for kernel {kernel_id} is still there after shutdown"
        for ns in namespaces_left
    ]
    return problems


# KERNEL_* variable -> (section, resource) of EG's kernel-pod.yaml.j2.
RESOURCE_ENV = {
    "KERNEL_CPUS": ("requests", "cpu"),
    "KERNEL_MEMORY": ("requests", "memory"),
    "KERNEL_CPUS_LIMIT": ("limits", "cpu"),
    "KERNEL_MEMORY_LIMIT": ("limits", "memory"),
}


def quantity(text: str) -> Decimal | None:
    """A resource quantity as the kubernetes client parses it (its mirror of the API server's
    rules: 2Gi, 500m, 1G; not Spark's 2g), or None when the API server would refuse it."""
    # kubernetes costs ~0.4 s at import; this module is imported by every pytest process.
    from kubernetes.utils import parse_quantity  # noqa: PLC0415 - heavy, see above

    try:
        return parse_quantity(str(text).strip())
    except ValueError:
        return None


def env_quantity_problems(env: dict[str, str]) -> list[str]:
    """KERNEL_* resource values that EG's pod template would copy into a pod the API server
    refuses (e.g. the seed's profile gives KERNEL_MEMORY=2g for Spark, and every non-Spark
    kernel of that user inherits it)."""
    return [
        f"{var}={env[var]!r} is not a Kubernetes quantity (e.g. 2Gi, 500m): EG's pod template "
        f"copies it verbatim into {section}.{resource} and the API server rejects the pod"
        for var, (section, resource) in RESOURCE_ENV.items()
        if var in env and quantity(env[var]) is None
    ]


def resources_of(pod) -> dict[str, dict[str, str]]:
    containers = pod.spec.containers or []
    res = containers[0].resources if containers else None
    return {
        "requests": dict((res.requests if res else None) or {}),
        "limits": dict((res.limits if res else None) or {}),
    }


def kernel_resource_problems(pod, env: dict[str, str]) -> list[str]:
    """The kernel pod's requests and limits are the KERNEL_* values its start carried, compared
    as quantities (the API server may rewrite 0.5 as 500m); a limit below its request is named
    too, because the API server would have refused that pod."""
    got = resources_of(pod)
    problems = env_quantity_problems(env)
    for var, (section, resource) in RESOURCE_ENV.items():
        if var not in env:
            continue
        wanted = quantity(env[var])
        if wanted is None:
            continue  # named above
        observed = got[section].get(resource)
        if observed is None:
            problems.append(
                f"pod {pod_ref(pod)} has no {section}.{resource}, expected {env[var]} from {var}"
            )
        elif quantity(observed) != wanted:
            problems.append(
                f"pod {pod_ref(pod)} has {section}.{resource} {observed}, expected {env[var]} "
                f"from {var}"
            )
    for resource in ("cpu", "memory"):
        req, lim = got["requests"].get(resource), got["limits"].get(resource)
        if req and lim and (quantity(lim) or 0) < (quantity(req) or 0):
            problems.append(f"pod {pod_ref(pod)} limits {resource} {lim} below its request {req}")
    return problems


PULL_REASONS = ("ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull")


def pull_failure(pod, events: list) -> str | None:
    """What Kubernetes knows about a failed pull: the waiting reason and message of the pod's
    container, or the kubelet's Failed/BackOff event; None when no pull failed."""
    for status in (pod.status.container_statuses or []) if pod.status else []:
        waiting = status.state.waiting if status.state else None
        if waiting and waiting.reason in PULL_REASONS:
            return f"{waiting.reason}: {waiting.message or status.image}"
    for ev in events:
        text = ev.message or ""
        if ev.reason in ("Failed", "BackOff") and "image" in text.lower():
            return f"{ev.reason}: {text}"
    return None


def unpullable_problems(
    error_text: str | None,
    elapsed: float,
    launch_timeout: float,
    pad: float,
    image: str,
    pods_left: list,
) -> list[str]:
    """EG #683: a kernel whose image cannot be pulled must fail, within the launch timeout,
    saying which image, and leave no pod."""
    problems = []
    if error_text is None:
        problems.append(f"the start with image {image} was accepted: a kernel without an image")
    elif elapsed > launch_timeout + pad:
        problems.append(
            f"the failed start took {elapsed:.1f}s, more than the launch timeout "
            f"{launch_timeout:.0f}s + {pad:.0f}s"
        )
    problems += [
        f"pod {pod_ref(p)} with the unpullable image is still there after the failed start"
        for p in pods_left
    ]
    return problems


def names_image(error_text: str, image: str) -> bool:
    """Whether what the user was told names the image (the repository at least)."""
    repository = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    return repository in error_text
