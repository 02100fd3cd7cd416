"""Spark suite plumbing: the target's Spark endpoint, and Spark starts recorded as spans.

A Spark start is timed up to the SparkSession being usable: the launch's first execute is the
in-driver probe, so `first_execute_reply` is the moment the driver answered with its facts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from eg_harness.checks.spark import FACTS_CODE, parse_facts
from eg_harness.clients.gateway import GatewayClient, KernelHandle
from eg_harness.targets.base import Target
from eg_harness.targets.endpoints import SparkEndpoint


@pytest.fixture
def spark(target: Target) -> SparkEndpoint:
    if target.spark is None:
        reason = next((n for n in target.notes if "Spark" in n), None)
        pytest.skip(reason or "the target has no Spark kernelspec (add a spark: section)")
    return target.spark


@dataclass
class SparkStart:
    handle: KernelHandle
    facts: dict[str, Any]


def start_spark(
    client: GatewayClient,
    spark: SparkEndpoint,
    env: dict[str, str] | None,
    attrs: dict[str, Any],
) -> SparkStart:
    """Start a Spark kernel and read the driver's facts; the span is `spark_start`."""
    handle = client.launch(
        spark.kernelspec, env, first_code=FACTS_CODE, attrs=attrs, span_name="spark_start"
    )
    try:
        facts = parse_facts(handle.first_result.stdout)
    except BaseException:
        handle.close()
        raise
    # Clock-safe on any target: both times come from the driver's own JVM.
    handle.span.attrs["jvm_to_spark_context_s"] = round(
        (facts["context_start_ms"] - facts["jvm_start_ms"]) / 1000, 3
    )
    handle.span.attrs["spark_version"] = facts.get("spark_version")
    return SparkStart(handle, facts)


@pytest.fixture
def spark_start():
    """start_spark(client, spark, env, attrs) -> SparkStart."""
    return start_spark


@pytest.fixture
def spark_user_server(spark: SparkEndpoint, throwaway_user_server):
    """spark_user_server(user_options) -> context manager of a new user's spawned server."""
    return lambda options: throwaway_user_server(
        user_options=options, launch_timeout=spark.launch_timeout
    )
