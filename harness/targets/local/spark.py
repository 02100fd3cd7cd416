"""The spark suite's view of the local target: the Spark kernelspec and the hub profile's
choices (clusters/local/hub/spark_profile.json), offered only where a Java runtime exists."""

from __future__ import annotations

import json
import os
import shutil

from eg_harness import resources
from eg_harness.targets.endpoints import SparkChoice, SparkEndpoint

KERNELSPEC = "spark_python_local"
# What the seed's user servers give a kernel start: their request_timeout (600) less
# jupyter_server's 2 s pad. A tighter bound fails correct deployments on a busy machine: Spark
# starts took 50-65 s here with one core kept busy. Failures still come fast (bad values: < 25 s).
LAUNCH_TIMEOUT = 598.0
NO_JAVA = (
    "Spark kernels unavailable: no java on PATH or in JAVA_HOME "
    "(install a Java 17 runtime, e.g. apt-get install openjdk-17-jre-headless)"
)


def endpoint() -> SparkEndpoint | None:
    """The Spark endpoint, or None when no java can run a driver."""
    if shutil.which("java", path=java_path()) is None:
        return None
    profile = json.loads((resources.LOCAL_CLUSTER / "hub" / "spark_profile.json").read_text())
    options = profile["options"]
    first = {name: next(iter(o["choices"])) for name, o in options.items()}
    choices = [
        SparkChoice(
            memory,
            cpus,
            {**first, "profile": profile["profile"], "driver_memory": memory, "driver_cores": cpus},
        )
        for memory in options["driver_memory"]["choices"]
        for cpus in options["driver_cores"]["choices"]
    ]
    physical_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    return SparkEndpoint(
        kernelspec=KERNELSPEC,
        choices=choices,
        launch_timeout=LAUNCH_TIMEOUT,
        free_memory_option="driver_memory",
        oversize_memory=f"{int(physical_gib * 4) + 1}g",
        local_mode=True,
        recorded={
            "image": first["image"],
            "image_note": options["image"]["choices"][first["image"]],
        },
    )


def java_path() -> str:
    java_home = os.environ.get("JAVA_HOME")
    extra = [os.path.join(java_home, "bin")] if java_home else []
    return os.pathsep.join([*extra, os.environ.get("PATH", os.defpath)])
