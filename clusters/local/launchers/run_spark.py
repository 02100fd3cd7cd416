"""The Spark kernelspec's run script: EG's spark_python_kubernetes `run.sh`, for a local driver.

EG's Spark kernelspecs run `spark-submit ${SPARK_OPTS} launch_ipykernel.py ${LAUNCH_OPTS} ARGS`.
SPARK_OPTS (from kernel.json) ends with ${KERNEL_EXTRA_SPARK_OPTS}; the resource options derived
from the kernel's KERNEL_* variables come after it, in EG's order, so they win (spark-submit keeps
the last value of a repeated --conf):

    KERNEL_CPUS         -> spark.driver.cores, spark.executor.cores
    KERNEL_MEMORY       -> spark.driver.memory, spark.executor.memory
    KERNEL_CPUS_LIMIT   -> spark.kubernetes.{driver,executor}.limit.cores
    KERNEL_MEMORY_LIMIT -> spark.driver.memory, spark.executor.memory (again, after the request)

The driver runs in client mode on this machine, so spark.driver.memory becomes the JVM's -Xmx
before the JVM starts, exactly the "before the JVM starts" the seed insists on.

Node admission: on Kubernetes a driver pod that asks for more memory than any node has is never
scheduled, and EG gives up at its launch timeout (EG #932). A local driver has no scheduler, and
the JVM happily reserves a heap larger than the machine, so this script plays the scheduler's
part: a memory request above the machine's physical memory is refused before spark-submit runs.

`--ignore-kernel-memory` is the seeded fault: KERNEL_MEMORY and KERNEL_MEMORY_LIMIT are dropped,
as in a kernelspec whose run script forgot them.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

RESOURCE_OPTIONS = (
    ("KERNEL_CPUS", ("spark.driver.cores", "spark.executor.cores")),
    ("KERNEL_MEMORY", ("spark.driver.memory", "spark.executor.memory")),
    (
        "KERNEL_CPUS_LIMIT",
        ("spark.kubernetes.driver.limit.cores", "spark.kubernetes.executor.limit.cores"),
    ),
    ("KERNEL_MEMORY_LIMIT", ("spark.driver.memory", "spark.executor.memory")),
)
MEMORY_VARS = ("KERNEL_MEMORY", "KERNEL_MEMORY_LIMIT")
_UNITS = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(text: str, env: dict[str, str]) -> str:
    """The shell's ${VAR} and ${VAR:-default}, as run.sh's `eval` would expand them."""
    return _REFERENCE.sub(lambda m: env.get(m.group(1)) or (m.group(2) or ""), text)


def resource_options(env: dict[str, str], ignore_memory: bool = False) -> list[str]:
    out: list[str] = []
    for var, keys in RESOURCE_OPTIONS:
        value = env.get(var, "")
        if not value or (ignore_memory and var in MEMORY_VARS):
            continue
        for key in keys:
            out += ["--conf", f"{key}={value}"]
    return out


def jvm_bytes(size: str) -> int | None:
    """Bytes of a JVM/Spark size such as 512m or 2g; None when the JVM would reject it anyway."""
    m = re.fullmatch(r"(\d+)([bkmgtp]?)b?", size.strip().lower())
    return int(m.group(1)) * _UNITS[m.group(2)] if m else None


def driver_memory(argv: list[str]) -> str | None:
    """The spark.driver.memory spark-submit will use: the last one given wins."""
    found = None
    for i, arg in enumerate(argv):
        if arg == "--driver-memory" and i + 1 < len(argv):
            found = argv[i + 1]
        elif (
            arg == "--conf" and i + 1 < len(argv) and argv[i + 1].startswith("spark.driver.memory=")
        ):
            found = argv[i + 1].split("=", 1)[1]
    return found


def main() -> None:
    args = sys.argv[1:]
    ignore_memory = "--ignore-kernel-memory" in args
    args = [a for a in args if a != "--ignore-kernel-memory"]
    env = dict(os.environ)
    bindir = Path(sys.executable).parent
    spark_opts = shlex.split(expand(env.get("SPARK_OPTS", ""), env))
    submit_opts = spark_opts + resource_options(env, ignore_memory)
    launch_opts = shlex.split(expand(env.get("LAUNCH_OPTS", ""), env))

    memory = driver_memory(submit_opts)
    requested = jvm_bytes(memory) if memory else None
    physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    if requested is not None and requested > physical:
        print(
            f"driver memory {memory} exceeds this node's {physical / (1 << 30):.1f} GiB of memory: "
            "the driver cannot be scheduled (a Kubernetes driver pod would stay Pending)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(3)

    # The driver runs Python with this interpreter, not whatever python3 is first on PATH.
    env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    argv = [
        str(bindir / "spark-submit"),
        *submit_opts,
        str(Path(__file__).with_name("launch_kernel.py")),
        *launch_opts,
        *args,
    ]
    print(
        f"Starting a Spark driver for kernel {env.get('KERNEL_ID', '?')}:",
        shlex.join(argv),
        flush=True,
    )
    os.execve(argv[0], argv, env)


if __name__ == "__main__":
    main()
