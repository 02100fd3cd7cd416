"""The Spark pieces that need no JVM: EG's option order in the run script, the driver checks."""

from __future__ import annotations

import importlib.util

import pytest
from eg_harness import resources
from eg_harness.checks.spark import driver_problems, heap_of, size_bytes


def _run_spark():
    spec = importlib.util.spec_from_file_location(
        "run_spark", resources.LOCAL_CLUSTER / "launchers" / "run_spark.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_resource_options_follow_egs_order():
    rs = _run_spark()
    env = {
        "KERNEL_MEMORY_LIMIT": "4g",
        "KERNEL_CPUS_LIMIT": "3",
        "KERNEL_MEMORY": "2g",
        "KERNEL_CPUS": "2",
    }
    opts = rs.resource_options(env)
    confs = [opts[i + 1] for i in range(0, len(opts), 2)]
    assert confs == [
        "spark.driver.cores=2",
        "spark.executor.cores=2",
        "spark.driver.memory=2g",
        "spark.executor.memory=2g",
        "spark.kubernetes.driver.limit.cores=3",
        "spark.kubernetes.executor.limit.cores=3",
        "spark.driver.memory=4g",
        "spark.executor.memory=4g",
    ]
    assert rs.driver_memory(["--conf", "spark.driver.memory=1g", *opts]) == "4g"


def test_seeded_fault_drops_only_memory():
    rs = _run_spark()
    opts = rs.resource_options({"KERNEL_MEMORY": "2g", "KERNEL_CPUS": "2"}, ignore_memory=True)
    assert opts == ["--conf", "spark.driver.cores=2", "--conf", "spark.executor.cores=2"]


def test_spark_opts_expand_like_the_shell():
    rs = _run_spark()
    env = {"KERNEL_ID": "k1", "KERNEL_CPUS": ""}
    assert rs.expand("local[${KERNEL_CPUS:-1}] ${KERNEL_ID}-${NOPE}", env) == "local[1] k1-"


@pytest.mark.parametrize(
    ("size", "expected"),
    [("2g", 2 << 30), ("512m", 512 << 20), ("2gb", 2 << 30), ("2Gi", None), ("lots", None)],
)
def test_size_bytes(size, expected):
    assert size_bytes(size) == expected


def _facts(heap: int, memory: str = "2g", cores: str = "2", parallelism: int = 2) -> dict:
    return {
        "conf": {"spark.driver.memory": memory, "spark.driver.cores": cores},
        "max_heap_flag": heap,
        "default_parallelism": parallelism,
        "master": f"local[{parallelism}]",
    }


def test_driver_matching_its_choice_has_no_problems():
    assert driver_problems(_facts(2 << 30), "2g", "2", local_mode=True) == []


def test_driver_with_the_default_heap_names_expected_and_observed():
    problems = driver_problems(_facts(1 << 30, memory="1g"), "2g", "2", local_mode=True)
    assert "driver heap is 1024 MiB (JVM MaxHeapSize), expected 2048 MiB" in " ".join(problems)
    assert "spark.driver.memory is '1g', expected '2g'" in problems


def test_parallelism_is_checked_only_in_local_mode():
    facts = _facts(2 << 30, parallelism=8)
    assert driver_problems(facts, "2g", "2", local_mode=False) == []
    assert "local parallelism is 8" in driver_problems(facts, "2g", "2", local_mode=True)[0]


def test_heap_allows_the_jvms_alignment_only():
    assert heap_of({"max_heap_flag": (2 << 30) + (16 << 20)}, 2 << 30).ok
    assert not heap_of({"max_heap_flag": (2 << 30) - (1 << 20)}, 2 << 30).ok
    assert heap_of({"xmx_args": ["-Xmx2g"]}, 2 << 30).source == "JVM -Xmx2g"


def test_pod_resources_of_a_matching_driver_pod():
    from eg_harness.checks.spark import pod_resource_problems

    # Spark 3.5 for a 2g/2-core PySpark driver: 2048Mi + 0.4 x 2048Mi overhead.
    assert (
        pod_resource_problems({"memory": "2867Mi", "cpu": "2"}, {"memory": "2867Mi"}, "2g", "2")
        == []
    )
    assert pod_resource_problems({"memory": "2432Mi", "cpu": "2000m"}, {}, "2g", "2") == []


def test_pod_resources_name_what_differs():
    from eg_harness.checks.spark import pod_resource_problems

    problems = pod_resource_problems(
        {"memory": "1408Mi", "cpu": "1"}, {"memory": "1408Mi"}, "2g", "2"
    )
    assert "memory request is 1408Mi, expected 2g plus Spark's overhead" in problems[0]
    assert "cpu request is 1, expected 2" in problems[1]


def test_driver_class_archive_is_optional_and_keyed_by_java(tmp_path, monkeypatch):
    """Without an archive the driver's options are the kernelspec's own; with one, the JVM is
    told where it is and to stay quiet if it cannot use it (another Java, another Spark)."""
    import shutil

    from eg_harness.runtime.envs import PythonEnv
    from eg_harness.targets.local import kernelspecs, spark_cds

    if shutil.which("java") is None:
        pytest.skip("no java: the archive is keyed by the Java that made it")
    env = PythonEnv("gateway", tmp_path, tmp_path / "gateway.lock")
    assert spark_cds.jvm_options(env) == ""
    assert spark_cds.ensure(env, lambda _m: None) is None  # no spark-submit in this env
    path = spark_cds.archive_path(env)
    assert path.parent == tmp_path and path.name.startswith("spark-driver-")
    path.write_bytes(b"not really an archive")
    opts = spark_cds.jvm_options(env)
    assert f"-XX:SharedArchiveFile={path}" in opts and "-Xlog:cds=off" in opts
    # The kernelspec carries the placeholder, and rendering leaves none behind.
    assert spark_cds.driver_jvm() == "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"
    names = kernelspecs.render(tmp_path / "k", [], {spark_cds.PLACEHOLDER: opts})
    spec = (tmp_path / "k" / "spark_python_local" / "kernel.json").read_text()
    assert "spark_python_local" in names and spark_cds.PLACEHOLDER not in spec
    assert "SharedArchiveFile" in spec
