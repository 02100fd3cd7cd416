"""Who consumes each KERNEL_* value, read from EG's own launcher and pod template.

EG's kernel-pod.yaml.j2 writes KERNEL_CPUS, KERNEL_MEMORY, ... into the pod's resources
requests and limits; launch_kubernetes.py's `_get_spark_resources` then turns the rendered
requests and limits into spark-submit confs, which run.sh `eval`s unquoted. The mapping is read
from those files (the sdist the audit pins), so a release that changes it changes the audit; the
type of each Spark entry is Spark's own (ConfigBuilder in core/.../internal/config and
resource-managers/kubernetes/.../Config.scala), which no EG file states.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from eg_harness.audit import grammar
from eg_harness.audit.grammar import Consumer

TEMPLATE = "etc/kernel-launchers/kubernetes/scripts/kernel-pod.yaml.j2"
LAUNCHER = "etc/kernel-launchers/kubernetes/scripts/launch_kubernetes.py"

SPARK_TYPES = {
    "spark.driver.memory": grammar.spark_bytes,  # bytesConf(ByteUnit.MiB)
    "spark.executor.memory": grammar.spark_bytes,  # bytesConf(ByteUnit.MiB)
    "spark.driver.cores": grammar.spark_int,  # intConf
    "spark.executor.cores": grammar.spark_int,  # intConf
    "spark.kubernetes.driver.limit.cores": grammar.k8s_resource,  # stringConf -> pod limit
    "spark.kubernetes.executor.limit.cores": grammar.k8s_resource,  # stringConf -> pod limit
    "spark.kubernetes.driver.request.cores": grammar.k8s_resource,
    "spark.kubernetes.executor.request.cores": grammar.k8s_resource,
}
_FIELD = re.compile(r"^\s*([\w./-]+):\s*\{\{\s*(kernel_\w+)\s*\|")
_CONF = re.compile(r"--conf (spark\.[\w.]+)=\{(cpu|memory)_(request|limit)\}")


def pod_fields(template: str) -> dict[str, str]:
    """KERNEL_* variable -> the pod resource field its value becomes ("requests.memory")."""
    out: dict[str, str] = {}
    block = None
    for line in template.splitlines():
        stripped = line.strip()
        if stripped in ("requests:", "limits:"):
            block = stripped[:-1]
            continue
        m = _FIELD.match(line)
        if m and block and m.group(1) in ("cpu", "memory", "nvidia.com/gpu"):
            out[m.group(2).upper()] = f"{block}.{m.group(1)}"
    return out


def spark_confs(launcher: str) -> dict[str, list[str]]:
    """The pod resource field ("requests.cpu") -> the Spark confs the launcher writes from it."""
    out: dict[str, list[str]] = {}
    for conf, resource, kind in _CONF.findall(launcher):
        out.setdefault(f"{kind}s.{resource}", []).append(conf)
    return out


def derive(
    template: str,
    launcher: str,
    pod_specs: tuple[str, ...] = (),
    spark_specs: tuple[str, ...] = (),
) -> dict[str, list[Consumer]]:
    """KERNEL_* variable -> every consumer of its value, in the order EG applies them.

    The pod's resources are what the API server judges for kernelspecs whose pod
    launch_kubernetes.py creates (`pod_specs`); for Spark kernelspecs (`spark_specs`: run.sh
    with --pod-template) the rendered resources become spark-submit confs instead, and Spark
    sets the driver pod's own requests."""
    fields = pod_fields(template)
    confs = spark_confs(launcher)
    out: dict[str, list[Consumer]] = {}
    for var, field in fields.items():
        consumers = [
            Consumer(f"kernel pod resources.{field}", TEMPLATE, grammar.k8s_resource, pod_specs)
        ]
        for conf in confs.get(field, []):
            parse = SPARK_TYPES.get(conf)
            if parse is not None:
                consumers.append(Consumer(conf, LAUNCHER, parse, spark_specs))
            consumers.append(
                Consumer(f"{conf} (run.sh's eval)", LAUNCHER, grammar.shell_word, spark_specs)
            )
        out[var] = consumers
    return out


def kubernetes_kernelspecs(root: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """EG's Kubernetes kernelspecs, split into (pod made by launch_kubernetes.py, Spark: run.sh
    with a pod template)."""
    pods, spark = [], []
    for path in sorted((root / "etc" / "kernelspecs").glob("*/kernel.json")):
        spec = json.loads(path.read_text())
        proxy = ((spec.get("metadata") or {}).get("process_proxy") or {}).get("class_name", "")
        if "Kubernetes" not in proxy:
            continue
        # run.sh calls launch_kubernetes.py --pod-template, then spark-submit; a kernelspec
        # whose argv runs launch_kubernetes.py itself has its pod created from the template.
        runs_script = str((spec.get("argv") or [""])[0]).endswith("run.sh")
        (spark if runs_script else pods).append(path.parent.name)
    return tuple(pods), tuple(spark)


def from_eg_dist(root: Path) -> dict[str, list[Consumer]]:
    pods, spark = kubernetes_kernelspecs(root)
    return derive((root / TEMPLATE).read_text(), (root / LAUNCHER).read_text(), pods, spark)


def judge(var: str, value: str, consumers: dict[str, list[Consumer]]) -> tuple[list, list]:
    """(accepting consumer names, [(rejecting consumer name, reason)]) for one value."""
    took, refused = [], []
    for consumer in consumers.get(var, []):
        why = consumer.rejects(value)
        if why is None:
            took.append(consumer.describe())
        else:
            refused.append((consumer.describe(), why))
    return took, refused
