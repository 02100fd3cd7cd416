"""Each consumer's own parsing rules (table-driven), the consumers read from EG's files, and the
twin: a value one consumer takes and another refuses is rejected, naming both."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from eg_harness.audit import consumers, grammar
from eg_harness.audit.grammar import Rejected

# apimachinery resource.Quantity (quantity_test.go's spellings)
K8S_OK = [
    ("1", Decimal(1)),
    ("1G", Decimal(10**9)),
    ("1Gi", Decimal(2**30)),
    ("500m", Decimal("0.5")),
    ("1.5", Decimal("1.5")),
    (".5", Decimal("0.5")),
    ("5.", Decimal(5)),
    ("1e3", Decimal(1000)),
    ("1E-3", Decimal("0.001")),
    ("128974848", Decimal(128974848)),
    ("129e6", Decimal(129 * 10**6)),
    ("123Mi", Decimal(123 * 2**20)),
    ("1k", Decimal(1000)),
]
K8S_BAD = ["1g", "2GB", "1 Gi", "1K", "1gi", "", "Gi", "1.2.3", "1Gib", "one", "1,5", " 1"]


@pytest.mark.parametrize(("text", "value"), K8S_OK)
def test_k8s_quantity_takes(text, value):
    assert grammar.k8s_quantity(text) == value


@pytest.mark.parametrize("text", K8S_BAD)
def test_k8s_quantity_refuses(text):
    with pytest.raises(Rejected, match="not a Kubernetes quantity"):
        grammar.k8s_quantity(text)


def test_k8s_resource_refuses_negative():
    assert grammar.k8s_quantity("-1") == -1
    with pytest.raises(Rejected, match="negative"):
        grammar.k8s_resource("-1")


# Spark JavaUtils.byteStringAs, default unit MiB (spark.driver.memory)
SPARK_OK = [
    ("1g", 2**30),
    ("1G", 2**30),
    ("1gb", 2**30),
    ("512m", 512 * 2**20),
    ("512MB", 512 * 2**20),
    ("1024", 1024 * 2**20),
    (" 2g ", 2 * 2**30),
    ("100b", 100),
    ("3k", 3 * 2**10),
    ("1t", 2**40),
    ("1p", 2**50),
]
SPARK_BAD = [
    ("2Gi", "invalid suffix"),
    ("1.5g", "fractional"),
    ("1 g", "not a Spark size"),
    ("g", "not a Spark size"),
    ("-1g", "not a Spark size"),
    ("1e3", "not a Spark size"),
    ("1kib", "invalid suffix"),
    ("", "not a Spark size"),
]


@pytest.mark.parametrize(("text", "value"), SPARK_OK)
def test_spark_bytes_takes(text, value):
    assert grammar.spark_bytes(text) == value


@pytest.mark.parametrize(("text", "why"), SPARK_BAD)
def test_spark_bytes_refuses(text, why):
    with pytest.raises(Rejected, match=why):
        grammar.spark_bytes(text)


@pytest.mark.parametrize(("text", "value"), [("1", 1), (" 2 ", 2), ("+3", 3), ("-1", -1)])
def test_spark_int_takes(text, value):
    assert grammar.spark_int(text) == value


@pytest.mark.parametrize("text", ["1.5", "500m", "1e3", "", "2147483648", "two"])
def test_spark_int_refuses(text):
    with pytest.raises(Rejected, match="not an integer"):
        grammar.spark_int(text)


@pytest.mark.parametrize("text", ["1g", "2", "500m", "spark-user_1.x"])
def test_shell_word_takes(text):
    assert grammar.shell_word(text) == text


@pytest.mark.parametrize("text", ["1 g", "$(id)", "`id`", "a;b", "x'y", "", "a\nb"])
def test_shell_word_refuses(text):
    with pytest.raises(Rejected, match="shell word"):
        grammar.shell_word(text)


# EG 3.3.0's files, as far as the mapping goes (the full files: test_consumers_from_eg_sdist)
TEMPLATE = """\
    resources:
      requests:
        cpu: {{ kernel_cpus | yaml_safe }}
        memory: {{ kernel_memory | yaml_safe }}
      limits:
        cpu: {{ kernel_cpus_limit | yaml_safe }}
        memory: {{ kernel_memory_limit | yaml_safe }}
    workingDir: {{ kernel_working_dir | yaml_safe }}
"""
LAUNCHER = """
f"--conf spark.driver.cores={cpu_request} "
f"--conf spark.driver.memory={memory_request} "
f"--conf spark.kubernetes.driver.limit.cores={cpu_limit} "
f"--conf spark.driver.memory={memory_limit} "
"""


def test_consumers_are_read_from_the_template_and_launcher():
    found = consumers.derive(TEMPLATE, LAUNCHER)
    assert sorted(found) == [
        "KERNEL_CPUS",
        "KERNEL_CPUS_LIMIT",
        "KERNEL_MEMORY",
        "KERNEL_MEMORY_LIMIT",
    ]
    names = [c.name for c in found["KERNEL_MEMORY"]]
    assert names == [
        "kernel pod resources.requests.memory",
        "spark.driver.memory",
        "spark.driver.memory (run.sh's eval)",
    ]
    assert [c.name for c in found["KERNEL_CPUS_LIMIT"]][:2] == [
        "kernel pod resources.limits.cpu",
        "spark.kubernetes.driver.limit.cores",
    ]


def test_twin_one_consumer_takes_another_refuses():
    """'1g': Spark takes it, the kernel pod's Kubernetes quantity refuses it; both named."""
    found = consumers.derive(TEMPLATE, LAUNCHER)
    took, refused = consumers.judge("KERNEL_MEMORY", "1g", found)
    assert "spark.driver.memory" in took
    assert [who for who, _ in refused] == ["kernel pod resources.requests.memory"]
    assert "not a Kubernetes quantity" in refused[0][1]
    took, refused = consumers.judge("KERNEL_MEMORY", "2Gi", found)
    assert took[0] == "kernel pod resources.requests.memory"
    assert [who for who, _ in refused] == ["spark.driver.memory"]
    took, refused = consumers.judge("KERNEL_CPUS", "500m", found)
    assert [who for who, _ in refused] == ["spark.driver.cores"]
    assert consumers.judge("KERNEL_MEMORY", "1G", found)[1] == []


def test_consumers_from_eg_sdist():
    roots = sorted(
        Path.home().glob(".cache/eg-harness/kind/eg-sdist/*/jupyter_enterprise_gateway-*")
    )
    if not roots:
        pytest.skip("EG's sdist is not in the cache (eg-harness fetches it on first use)")
    found = consumers.from_eg_dist(roots[-1])
    assert {"KERNEL_CPUS", "KERNEL_MEMORY", "KERNEL_CPUS_LIMIT", "KERNEL_MEMORY_LIMIT"} <= set(
        found
    )
    memory = [c.name for c in found["KERNEL_MEMORY"]]
    assert "spark.executor.memory" in memory and memory[0].startswith("kernel pod")
