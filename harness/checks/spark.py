"""What a Spark driver says about itself, and what a profile choice means it should say.

The checks run *inside* the driver (through the kernel's `spark` and `sc`), because that is the
only place the truth lives: Spark's conf can claim a memory the JVM never got (set it from a
notebook and `spark.conf.get` agrees while the heap stays put), so the heap is read from the
JVM's own MaxHeapSize flag, the value -Xmx became after the JVM's alignment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

MARKER = "EGH-SPARK-FACTS "
CONF_KEYS = (
    "spark.driver.memory",
    "spark.driver.cores",
    "spark.executor.memory",
    "spark.executor.cores",
    "spark.kubernetes.driver.limit.cores",
    "spark.kubernetes.executor.limit.cores",
    "spark.kubernetes.driver.request.cores",
    "spark.sql.shuffle.partitions",
)

# Runs in the kernel; its one helper is deleted after use. (Placeholders: @KEYS@, @MARKER@.)
_PROBE_TEMPLATE = """
def _egh_facts(extra=None):
    import json, socket
    jvm = sc._jvm
    mf = jvm.java.lang.management.ManagementFactory
    rt = mf.getRuntimeMXBean()
    try:
        cls = jvm.java.lang.Class.forName("com.sun.management.HotSpotDiagnosticMXBean")
        max_heap = int(mf.getPlatformMXBean(cls).getVMOption("MaxHeapSize").getValue())
    except Exception:
        max_heap = None
    conf = sc.getConf()
    facts = {
        "spark_version": sc.version,
        "master": sc.master,
        "app_id": sc.applicationId,
        "app_name": sc.appName,
        "default_parallelism": sc.defaultParallelism,
        "conf": {k: conf.get(k, None) for k in @KEYS@},
        "max_heap_flag": max_heap,
        "runtime_max_memory": int(jvm.java.lang.Runtime.getRuntime().maxMemory()),
        "xmx_args": [str(a) for a in rt.getInputArguments() if str(a).startswith("-Xmx")],
        "available_processors": int(jvm.java.lang.Runtime.getRuntime().availableProcessors()),
        "jvm_start_ms": int(rt.getStartTime()),
        "context_start_ms": int(sc.startTime),
        "hostname": socket.gethostname(),
    }
    facts.update(extra or {})
    print(@MARKER@ + json.dumps(facts))
"""
_PROBE = _PROBE_TEMPLATE.replace("@KEYS@", repr(CONF_KEYS)).replace("@MARKER@", repr(MARKER))

FACTS_CODE = _PROBE + "_egh_facts()\ndel _egh_facts\n"


def notebook_override_code(new_memory: str) -> str:
    """The seed's claim, tried the two ways a notebook user would: `spark.conf.set` and a new
    `SparkSession.builder.config(...)`; reports what the conf claims afterwards."""
    return (
        _PROBE
        + f"""
_egh_errors = {{}}
try:
    spark.conf.set("spark.driver.memory", {new_memory!r})
    _egh_errors["conf_set"] = None
except Exception as exc:
    _egh_errors["conf_set"] = type(exc).__name__ + ": " + str(exc).splitlines()[0][:200]
from pyspark.sql import SparkSession as _EghSession
_egh_conf_after = _EghSession.builder.config("spark.driver.memory", {new_memory!r}) \\
    .getOrCreate().conf.get("spark.driver.memory")
_egh_facts({{"override_errors": _egh_errors, "session_conf_after": _egh_conf_after}})
del _egh_facts, _egh_errors, _egh_conf_after, _EghSession
"""
    )


def launch_env(launch_timeout: float, **env: str) -> dict[str, str]:
    """A Spark kernel-start env: the KERNEL_* under test plus the Spark launch timeout."""
    return {"KERNEL_LAUNCH_TIMEOUT": str(int(launch_timeout)), **env}


def parse_facts(stdout: str) -> dict[str, Any]:
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    raise AssertionError(
        f"the Spark kernel printed no driver facts (is `sc` defined?); stdout: {stdout[-500:]!r}"
    )


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def size_bytes(size: str) -> int | None:
    """Bytes of a Spark/JVM size (512m, 2g, 2gb); None for anything Spark would not take."""
    m = re.fullmatch(r"(\d+)([bkmgtp]?)b?", size.strip().lower())
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def mib(n: int | None) -> str:
    return "?" if n is None else f"{n / (1 << 20):.0f} MiB"


@dataclass
class HeapCheck:
    expected: int
    observed: int | None
    source: str

    @property
    def ok(self) -> bool:
        # The JVM aligns MaxHeapSize up to its heap alignment (a G1 region, at most 32 MiB).
        return self.observed is not None and 0 <= self.observed - self.expected <= 32 << 20


def heap_of(facts: dict[str, Any], expected: int) -> HeapCheck:
    """The driver's max heap, from the most exact source the JVM offers."""
    if facts.get("max_heap_flag"):
        return HeapCheck(expected, int(facts["max_heap_flag"]), "JVM MaxHeapSize")
    xmx = facts.get("xmx_args") or []
    if xmx:
        return HeapCheck(expected, size_bytes(xmx[-1][4:]), f"JVM {xmx[-1]}")
    return HeapCheck(expected, facts.get("runtime_max_memory"), "Runtime.maxMemory()")


def driver_problems(facts: dict[str, Any], memory: str, cpus: str, local_mode: bool) -> list[str]:
    """Every way the driver differs from the choice, each naming expected and observed."""
    problems = []
    conf = facts.get("conf", {})
    if conf.get("spark.driver.memory") != memory:
        problems.append(
            f"spark.driver.memory is {conf.get('spark.driver.memory')!r}, expected {memory!r}"
        )
    if str(conf.get("spark.driver.cores")) != str(cpus):
        problems.append(
            f"spark.driver.cores is {conf.get('spark.driver.cores')!r}, expected {cpus!r}"
        )
    expected = size_bytes(memory)
    if expected is not None:
        heap = heap_of(facts, expected)
        if not heap.ok:
            problems.append(
                f"driver heap is {mib(heap.observed)} ({heap.source}), expected {mib(expected)} "
                f"from driver memory {memory}"
            )
    if local_mode and str(facts.get("default_parallelism")) != str(cpus):
        problems.append(
            f"local parallelism is {facts.get('default_parallelism')} (master "
            f"{facts.get('master')}), expected {cpus} CPUs"
        )
    return problems


_QUANTITY = re.compile(r"([0-9.]+)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P|m)?")
_QUANTITY_UNITS = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "P": 1e15,
    "Ki": 1 << 10,
    "Mi": 1 << 20,
    "Gi": 1 << 30,
    "Ti": 1 << 40,
    "Pi": 1 << 50,
}


def quantity(text: str) -> float | None:
    """A Kubernetes resource quantity (500m, 2, 1408Mi, 1.5G) as a number of units."""
    m = _QUANTITY.fullmatch(str(text).strip())
    return float(m.group(1)) * _QUANTITY_UNITS[m.group(2)] if m else None


def pod_resource_problems(
    requests: dict, limits: dict, memory: str, cpus: str, cpus_limit: str | None = None
) -> list[str]:
    """How a Spark driver pod's resources differ from a choice.

    Spark asks for the driver memory plus its overhead, max(384 MiB, factor x memory) with a
    factor of 0.1 (JVM) up to 0.4 (Python) depending on the Spark version, for both the request
    and the limit; the CPU request is the driver cores, and the CPU limit what EG's launcher
    made of KERNEL_CPUS_LIMIT (spark.kubernetes.driver.limit.cores).
    """
    problems = []
    mem = size_bytes(memory) or 0
    low, high = mem + (384 << 20), mem + max(384 << 20, int(0.4 * mem))
    req_mem = quantity(requests.get("memory", "")) if requests.get("memory") else None
    if req_mem is None or not low <= req_mem <= high:
        problems.append(
            f"memory request is {requests.get('memory')}, expected {memory} plus Spark's "
            f"overhead ({mib(low)} to {mib(high)})"
        )
    lim_mem = limits.get("memory")
    if lim_mem is not None and quantity(lim_mem) != req_mem:
        problems.append(f"memory limit {lim_mem} differs from the request {requests.get('memory')}")
    req_cpu = quantity(requests.get("cpu", "")) if requests.get("cpu") else None
    if req_cpu is None or abs(req_cpu - float(cpus)) > 1e-9:
        problems.append(f"cpu request is {requests.get('cpu')}, expected {cpus}")
    if cpus_limit is not None:
        lim_cpu = quantity(limits["cpu"]) if limits.get("cpu") else None
        wanted = quantity(cpus_limit)
        if lim_cpu is None or wanted is None or abs(lim_cpu - wanted) > 1e-9:
            problems.append(
                f"cpu limit is {limits.get('cpu')}, expected {cpus_limit} from KERNEL_CPUS_LIMIT"
            )
    return problems
