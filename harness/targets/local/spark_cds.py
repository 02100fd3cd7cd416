"""A class-data archive for the local Spark driver JVM, made once per gateway environment.

A local Spark kernel start is mostly a JVM loading Spark's classes: about 6.5 CPU-s of the
driver's start on this project's 2-core machines, and a run starts dozens of drivers. A dynamic
CDS archive (JDK 13+: `-XX:ArchiveClassesAtExit` once, `-XX:SharedArchiveFile` after) maps
those classes ready-parsed: 3.6 CPU-s per start, and the start 3 s sooner. It changes how fast
the local driver boots, not what it is: the heap (`-Xmx` from spark.driver.memory), cores and
conf the spark suite checks are set exactly as before.

Safe by construction: the JVM checks an archive against itself and its class path and, when
they differ (another Java, another Spark), runs without it, silently (`-Xlog:cds=off`); an
archive that cannot be made leaves the drivers as they were. The archive lives in the gateway
environment (keyed by its pins), named after the Java that made it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from eg_harness.runtime import envs
from eg_harness.targets.local import kernelspecs, spark

QUIET = "-Xlog:cds=off -Xlog:cds+dynamic=off"
PLACEHOLDER = "{driver_jvm_options}"  # in the kernelspec's SPARK_SUBMIT_OPTS
# What the archive learns from: a session like a kernel's (eager context), one small job.
WARM_UP = """
from pyspark.sql import SparkSession
s = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
     .config("spark.driver.host", "127.0.0.1").config("spark.driver.bindAddress", "127.0.0.1")
     .config("spark.local.dir", {scratch!r}).config("spark.sql.warehouse.dir", {scratch!r})
     .getOrCreate())
assert s.range(100).selectExpr("sum(id)").first()[0] == 4950
s.stop()
"""


def driver_jvm() -> str:
    """The kernelspec's own driver JVM options: the archive is made under the same JIT and GC
    the drivers use."""
    opts = kernelspecs.patched(spark.KERNELSPEC, [])["env"]["SPARK_SUBMIT_OPTS"]
    return opts.replace(PLACEHOLDER, "").strip()


def archive_path(gw_env: envs.PythonEnv) -> Path | None:
    """Where this Java's archive for `gw_env` lives; None without Java."""
    java = shutil.which("java", path=spark.java_path())
    if java is None:
        return None
    real = Path(java).resolve()
    ident = hashlib.sha256(f"{real}|{real.stat().st_mtime_ns}".encode()).hexdigest()[:12]
    return gw_env.path / f"spark-driver-{ident}.jsa"


def jvm_options(gw_env: envs.PythonEnv) -> str:
    """The driver's extra JVM options: the archive if it was made, else nothing."""
    path = archive_path(gw_env)
    if path is None or not path.is_file():
        return ""
    return f"-XX:SharedArchiveFile={path} {QUIET}"


def ensure(gw_env: envs.PythonEnv, progress) -> Path | None:
    """Make the archive if this environment and Java lack one; None when it cannot be made
    (no Java, no pyspark, a failed dump): the drivers then start without it."""
    path = archive_path(gw_env)
    if path is None or not Path(gw_env.bin("spark-submit")).exists():
        return None
    if path.is_file():
        return path
    with envs.locked(path.with_suffix(".lock")):
        if path.is_file():
            return path
        progress("making the Spark driver's class-data archive (once per environment and Java)")
        t0 = time.monotonic()
        # Made beside its final place, so the rename that publishes it is atomic.
        with tempfile.TemporaryDirectory(prefix=".cds-", dir=gw_env.path) as tmp:
            script = Path(tmp) / "warm_up.py"
            script.write_text(WARM_UP.format(scratch=str(Path(tmp) / "scratch")))
            dump = Path(tmp) / "driver.jsa"
            env = {
                k: os.environ[k] for k in ("PATH", "HOME", "LANG", "JAVA_HOME") if k in os.environ
            }
            env.update(
                PATH=f"{Path(gw_env.python).parent}:{spark.java_path()}",
                PYSPARK_PYTHON=gw_env.python,
                PYSPARK_DRIVER_PYTHON=gw_env.python,
                SPARK_SUBMIT_OPTS=f"{driver_jvm()} -XX:ArchiveClassesAtExit={dump} {QUIET}",
            )
            try:
                done = subprocess.run(
                    [gw_env.bin("spark-submit"), "--driver-memory", "1g", str(script)],
                    env=env,
                    cwd=tmp,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
            except subprocess.TimeoutExpired:
                done = None
            if done is None or done.returncode != 0 or not dump.is_file():
                why = "timed out" if done is None else f"exit {done.returncode}"
                progress(f"no class-data archive ({why}): Spark drivers start without one")
                return None
            os.replace(dump, path)
        progress(f"class-data archive ready in {time.monotonic() - t0:.1f}s ({path.name})")
        return path
