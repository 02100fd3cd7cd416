"""The kubernetes suite on the local target: every scenario skips with the reason, at once.

The local target has no cluster, so each scenario must say so rather than pass, and must not
stand the local stack up first (the ability is asked before provisioning). Costs a few
seconds: one CLI run that starts no component.
"""

from __future__ import annotations

SCENARIOS = {
    "test_dead_kernel_pod_is_named_within_seconds",
    "test_gateway_kernel_is_a_pod_in_its_namespace_and_gone_after_shutdown",
    "test_hub_kernel_is_its_users_pod_and_gone_after_shutdown",
    "test_kernel_pod_resources_match_the_start",
    "test_profile_choice_reaches_the_kernel_pod",
    "test_unpullable_image_fails_in_time_and_leaves_no_pod",
    "test_unpullable_image_error_names_the_image",
    "test_user_pod_reaches_the_gateway",
    "test_unlabelled_pod_of_another_namespace_cannot_reach_the_gateway",
    "test_time_to_usable_kernel_by_layer",
    "test_deleted_kernel_pod_is_restarted_or_dropped",
    "test_gateway_pod_deleted_leaves_no_orphan_kernel_pod[idle]",
    "test_gateway_pod_deleted_leaves_no_orphan_kernel_pod[start]",
    "test_deleted_user_pod_leaves_no_kernel_on_the_gateway",
}


def test_kubernetes_suite_skips_on_the_local_target_without_starting_it(harness):
    run = harness(["run", "--suite", "kubernetes"])
    # Every scenario skipped: the run proved nothing here, and says so (issue 22).
    assert run.returncode == 2, run.explain()
    assert run.results["verdict"]["status"] == "no-tests", run.results["verdict"]
    assert run.results["selection"]["suites"] == ["kubernetes"]
    assert "auth" in run.results["selection"]["suites_not_run"]
    tests = run.tests()
    assert set(tests) == SCENARIOS, sorted(tests)
    for name, t in tests.items():
        assert t["outcome"] == "skipped", (name, t)
        assert "no Kubernetes access" in t["message"] and "kubernetes: section" in t["message"]
    results = run.results
    assert results["summary"]["skipped"] == len(SCENARIOS)
    assert results["target"]["capabilities"]["cluster_access"] is False
    # Nothing was started: no endpoint, no component version, no span of a provisioning.
    assert results["target"]["endpoints"] == {}
    assert not [s for s in results["spans"] if s["name"] != "target_teardown"]
