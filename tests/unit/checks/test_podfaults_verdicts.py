"""The verdicts of the Kubernetes pod-fault scenarios (eg_harness.checks.podfaults), on facts as the
scenarios gather them: each failure names the kernels and pods and the fix; a healthy outcome
gives none."""

from __future__ import annotations

from eg_harness.checks.podfaults import (
    KernelPodDeleted,
    KernelPods,
    UserPodDeleted,
    cleanup_cause,
    kernel_pod_deleted_problems,
    kernels_left,
    orphan_failure,
    orphans,
    user_pod_failure,
)


def _deleted(**kw) -> KernelPodDeleted:
    base = dict(
        kernel_id="k1",
        pod="eg-harness-k1/eg-harness-k1",
        user_saw="iopub 'restarting' after 3.1s",
        noticed_s=3.1,
        gateway_status=200,
        new_pod="eg-harness-k1/eg-harness-k1",
        usable_after=True,
        state_kept=False,
    )
    return KernelPodDeleted(**{**base, **kw})


def test_a_restarted_kernel_that_runs_is_fine():
    assert kernel_pod_deleted_problems(_deleted()) == []


def test_a_dropped_kernel_without_pods_is_fine():
    facts = _deleted(gateway_status=404, new_pod=None, usable_after=False)
    assert kernel_pod_deleted_problems(facts) == []


def test_a_listed_kernel_that_cannot_run_is_named():
    (problem,) = kernel_pod_deleted_problems(_deleted(usable_after=False))
    assert "lists kernel k1 (200) but it answers no execute" in problem


def test_a_kernel_never_noticed_is_named():
    (problem,) = kernel_pod_deleted_problems(_deleted(noticed_s=None, usable_after=False))
    assert "showed no sign of noticing" in problem


def test_a_dropped_kernel_with_a_new_pod_is_an_orphan():
    (problem,) = kernel_pod_deleted_problems(_deleted(gateway_status=404))
    assert "orphan pod" in problem and "eg-harness-k1/eg-harness-k1" in problem


def test_pods_after_shutdown_are_named():
    problems = kernel_pod_deleted_problems(_deleted(pods_after_shutdown=("ns/p1",)))
    assert problems == ["pod ns/p1 of kernel k1 is still there after shutdown: an orphan pod"]


def test_orphans_are_pods_of_kernels_the_gateway_dropped():
    kernels = [
        KernelPods("a", 404, ("ns-a/a",)),
        KernelPods("b", 404, ()),
        KernelPods("c", 200, ("ns-c/c",)),
    ]
    assert [k.kernel_id for k in orphans(kernels)] == ["a"]
    text = orphan_failure("deleting the gateway's pod eg/eg-1", kernels, "the fix")
    assert text is not None
    assert "ns-a/a (kernel a)" in text and "ns-c/c" not in text and text.endswith("Fix: the fix")
    assert orphan_failure("x", kernels[1:], "fix") is None


def test_cleanup_cause_names_the_missing_rights_only():
    assert cleanup_cause(True, True) == ""
    assert cleanup_cause(None, None) == ""
    text = cleanup_cause(False, True)
    assert "may not delete pods (" in text and "namespaces" not in text
    assert "may not delete pods or namespaces" in cleanup_cause(False, False)


def _user(kernels, pod_gone_s=2.0) -> UserPodDeleted:
    return UserPodDeleted(
        user="egh-u",
        pod="jupyterhub/jupyter-egh-u",
        grace_s=1,
        pod_gone_s=pod_gone_s,
        watched_s=70.0,
        kernels=kernels,
    )


def test_kernels_deleted_before_the_pod_went_are_fine():
    facts = _user({"k1": 1.5, "k2": 6.9})  # within the pod's 2.0 s plus the settle time
    assert kernels_left(facts) == {}
    assert user_pod_failure(facts, "no culling") is None


def test_kernels_that_outlived_the_pod_are_named_with_the_fix():
    facts = _user({"k1": 1.5, "k2": None, "k3": 40.0})
    assert set(kernels_left(facts)) == {"k2", "k3"}
    text = user_pod_failure(facts, "the gateway culls kernels idle 3600s")
    assert text is not None
    assert "2 kernel(s) outlived egh-u's deleted pod" in text
    assert "k2 (still running 70s later)" in text and "k3 (gone after 40s)" in text
    assert "grace period 1s" in text and "delete_grace_period" in text
    assert "the gateway culls kernels idle 3600s" in text
