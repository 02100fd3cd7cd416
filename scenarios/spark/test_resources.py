"""A profile's driver memory and CPUs reach the Spark driver, checked inside the driver's JVM.

The seed lets users pick driver memory and CPUs in the hub's profile form; the choice travels as
KERNEL_MEMORY / KERNEL_CPUS through the user server's environment, the kernel-start request,
EG, the kernelspec's run script and spark-submit, and only counts if the JVM started with it.
Nothing upstream tests that chain end to end (EG's own tests check the master and app id).
"""

from __future__ import annotations

import pytest
from eg_harness.checks.spark import (
    driver_problems,
    heap_of,
    launch_env,
    mib,
    notebook_override_code,
    parse_facts,
)
from eg_harness.checks.spark import size_bytes as spark_bytes

TABLE = "Spark driver resources"
EXTRA_OPTS = "--conf spark.driver.memory=3g --conf spark.sql.shuffle.partitions=7"
COLUMNS = [
    "hop",
    "choice",
    "spark.driver.memory",
    "driver heap",
    "driver cores",
    "parallelism",
    "start (s)",
    "verdict",
]


def _row(run_state, hop: str, choice, start, problems: list[str]) -> None:
    facts = start.facts
    heap = heap_of(facts, spark_bytes(choice.memory) or 0)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [
            hop,
            choice.label,
            facts["conf"].get("spark.driver.memory"),
            f"{mib(heap.observed)} ({heap.source})",
            facts["conf"].get("spark.driver.cores"),
            facts.get("default_parallelism"),
            round(start.handle.span.phases.get("first_execute_reply", 0), 2),
            "ok" if not problems else "; ".join(problems),
        ],
        note="Read inside each driver: Spark's conf, the JVM's MaxHeapSize, sc.defaultParallelism.",
    )


@pytest.mark.long  # a driver JVM per profile choice and hop: 35-45 s
def test_profile_choices_reach_the_driver(spark, hub, spark_start, spark_user_server, run_state):
    """Each profile choice, spawned through the hub, gives its Spark driver that memory and CPU."""
    through_hub = [c for c in spark.choices if c.user_options]
    if not through_hub:
        pytest.skip("no spark choice has user_options: nothing to spawn through the hub")
    failures = []
    for choice in through_hub:
        with spark_user_server(choice.user_options) as server:
            start = spark_start(
                server.client, spark, None, {"hop": "hub", "choice": choice.label, **spark.recorded}
            )
            try:
                problems = driver_problems(
                    start.facts, choice.memory, choice.cpus, spark.local_mode
                )
                _row(run_state, "hub", choice, start, problems)
            finally:
                start.handle.close()
        if problems:
            failures.append(f"profile choice {choice.user_options}: " + "; ".join(problems))
    assert not failures, "\n".join(failures)


def test_kernel_env_reaches_the_driver(spark, gateway, spark_start, run_state):
    """The same choices requested straight at the gateway with KERNEL_MEMORY and KERNEL_CPUS."""
    failures = []
    for choice in spark.choices:
        env = launch_env(spark.launch_timeout, KERNEL_MEMORY=choice.memory, KERNEL_CPUS=choice.cpus)
        start = spark_start(gateway, spark, env, {"hop": "gateway", "choice": choice.label})
        try:
            problems = driver_problems(start.facts, choice.memory, choice.cpus, spark.local_mode)
            _row(run_state, "gateway", choice, start, problems)
        finally:
            start.handle.close()
        if problems:
            failures.append(
                f"KERNEL_MEMORY={choice.memory} KERNEL_CPUS={choice.cpus}: " + "; ".join(problems)
            )
    assert not failures, "\n".join(failures)


def test_resource_options_follow_egs_order(spark, gateway, spark_start, run_state):
    """EG's mapping order: KERNEL_EXTRA_SPARK_OPTS first, then the KERNEL_* resources, limits
    last; spark-submit keeps the last value, so a limit beats a request and a user's extra
    options cannot undo the profile's resources, but do reach the driver otherwise."""
    small, large = "1g", "2g"
    env = launch_env(
        spark.launch_timeout,
        KERNEL_MEMORY=small,
        KERNEL_MEMORY_LIMIT=large,
        KERNEL_CPUS="1",
        KERNEL_CPUS_LIMIT="2",
        KERNEL_EXTRA_SPARK_OPTS=EXTRA_OPTS,
    )
    start = spark_start(gateway, spark, env, {"hop": "gateway", "choice": "order"})
    try:
        facts = start.facts
    finally:
        start.handle.close()
    conf = facts["conf"]
    heap = heap_of(facts, spark_bytes(large))
    observed = {
        "spark.driver.memory": conf.get("spark.driver.memory"),
        "spark.executor.memory": conf.get("spark.executor.memory"),
        "spark.driver.cores": conf.get("spark.driver.cores"),
        "spark.kubernetes.driver.limit.cores": conf.get("spark.kubernetes.driver.limit.cores"),
        "spark.sql.shuffle.partitions": conf.get("spark.sql.shuffle.partitions"),
    }
    expected = {
        "spark.driver.memory": large,  # KERNEL_MEMORY_LIMIT comes after KERNEL_MEMORY
        "spark.executor.memory": large,
        "spark.driver.cores": "1",
        "spark.kubernetes.driver.limit.cores": "2",
        "spark.sql.shuffle.partitions": "7",  # from KERNEL_EXTRA_SPARK_OPTS
    }
    for key, value in expected.items():
        run_state.table_row(
            "Spark option order (EG's mapping)",
            ["setting", "expected", "observed"],
            [key, value, observed[key]],
            note="KERNEL_MEMORY=1g KERNEL_MEMORY_LIMIT=2g KERNEL_CPUS=1 KERNEL_CPUS_LIMIT=2 "
            "KERNEL_EXTRA_SPARK_OPTS='--conf spark.driver.memory=3g --conf "
            "spark.sql.shuffle.partitions=7'",
        )
    wrong = [
        f"{k} is {observed[k]!r}, expected {v!r}" for k, v in expected.items() if observed[k] != v
    ]
    if not heap.ok:
        wrong.append(
            f"driver heap is {mib(heap.observed)}, expected {mib(heap.expected)} "
            "(KERNEL_MEMORY_LIMIT)"
        )
    assert not wrong, "the launcher does not apply EG's option order: " + "; ".join(wrong)


def test_notebook_code_cannot_resize_the_driver(spark, gateway, spark_start, run_state):
    """The seed's claim: driver memory set from notebook code after start changes nothing."""
    # The largest choice, so a launcher that ignores the choice cannot pass on Spark's default.
    choice = max(spark.choices, key=lambda c: spark_bytes(c.memory) or 0)
    memory = choice.memory
    bigger = f"{(spark_bytes(memory) or 1 << 30) * 2 >> 20}m"
    env = launch_env(spark.launch_timeout, KERNEL_MEMORY=memory, KERNEL_CPUS=choice.cpus)
    start = spark_start(gateway, spark, env, {"hop": "gateway", "choice": "notebook-override"})
    try:
        res = start.handle.execute(notebook_override_code(bigger), timeout=spark.launch_timeout)
        assert res.status == "ok", f"the override attempt itself failed: {res.describe_error()}"
        after = parse_facts(res.stdout)
    finally:
        start.handle.close()
    before_heap = heap_of(start.facts, spark_bytes(memory))
    after_heap = heap_of(after, spark_bytes(memory))
    conf_set = after["override_errors"]["conf_set"] or "accepted"
    run_state.table_row(
        "Driver memory set from notebook code",
        ["attempt", "what Spark said", "heap before", "heap after"],
        [
            f"spark.conf.set('spark.driver.memory', '{bigger}')",
            conf_set,
            mib(before_heap.observed),
            mib(after_heap.observed),
        ],
        note="The seed: driver memory cannot be set from notebook code, only before the JVM "
        "starts (through the profile).",
    )
    run_state.table_row(
        "Driver memory set from notebook code",
        ["attempt", "what Spark said", "heap before", "heap after"],
        [
            f"SparkSession.builder.config('spark.driver.memory', '{bigger}').getOrCreate()",
            f"session conf now reports {after['session_conf_after']!r}",
            mib(before_heap.observed),
            mib(after_heap.observed),
        ],
    )
    assert after_heap.observed == before_heap.observed, (
        f"the driver heap changed from {mib(before_heap.observed)} to "
        f"{mib(after_heap.observed)} after notebook code set spark.driver.memory={bigger}"
    )
    assert after_heap.ok, (
        f"driver heap is {mib(after_heap.observed)}, expected {mib(after_heap.expected)}"
    )
