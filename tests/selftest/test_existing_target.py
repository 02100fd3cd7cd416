"""The existing target: a deployment the harness did not start, described by a YAML file.

Deployments are stood up here apart from the run under test (a LocalTarget in this process),
so the harness sees them exactly as it would a live cluster: URLs and tokens, nothing else.
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import httpx
import pytest
from eg_harness.runtime import ports
from eg_harness.targets.local.target import LocalTarget
from selftest_tools import REPO, _env, harness_cmd

# xdist_group: a module-scoped fixture, made once on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("existing")]


def _deployment(faults=()):
    target = LocalTarget(faults=faults)
    try:
        target.provision(lambda _m: None)
    except BaseException:
        target.teardown()
        raise
    return target


@pytest.fixture(scope="module")
def deployment():
    target = _deployment()
    yield target
    left = target.teardown()
    assert not any(left.values()), left


def _config(tmp_path, target, *, hub=True, token="${T_GW}", spark=False, gateway="") -> str:
    text = f"gateway:\n  url: {target.gateway.url}\n  auth_token: {token}\n  kernelspec: python3\n"
    text += gateway
    if hub:
        text += (
            f"hub:\n  url: {target.hub.url}\n  api_token: ${{T_HUB}}\n  profile: jupyter-gateway\n"
        )
    if spark:
        text += (
            "spark:\n  kernelspec: spark_python_local\n  launch_timeout: 90\n  local_mode: true\n"
            "  choices:\n    - {memory: 2g, cpus: 2, user_options: "
            "{driver_memory: 2g, driver_cores: '2'}}\n"
        )
    path = tmp_path / "existing.yaml"
    path.write_text(text)
    return str(path)


def _with_tokens(monkeypatch, target):
    # Tokens travel by environment, as an operator's CI would pass them, never in the file.
    monkeypatch.setenv("T_GW", target.gateway.token)
    monkeypatch.setenv("T_HUB", target.hub.api_token)


def test_correct_deployment_passes(deployment, tmp_path, monkeypatch, harness):
    _with_tokens(monkeypatch, deployment)
    cfg = _config(tmp_path, deployment)
    run = harness(
        [
            "run",
            "--target",
            "existing",
            "--target-config",
            cfg,
            # auth and startup reach both hops, the hub's users and the gateway's kernels; the
            # conformance suite's own correctness is proven by the whole-suite self-test.
            "--suite",
            "auth,startup",
        ],
        timeout=900,
    )
    assert run.returncode == 0, run.explain()
    outcomes = {t["name"]: t["outcome"] for t in run.results["tests"]}
    assert "failed" not in outcomes.values() and "error" not in outcomes.values(), outcomes
    skipped = {n for n, o in outcomes.items() if o == "skipped"}
    # The only skip: a hanging kernelspec exists only where the harness made the deployment.
    assert skipped == {"test_hanging_kernel_fails_within_launch_timeout"}, skipped
    assert run.results["target"]["kind"] == "existing"
    # Nothing the run created is left on the deployment.
    gw = deployment.gateway
    kernels = httpx.get(f"{gw.url}/api/kernels", headers={"Authorization": f"token {gw.token}"})
    assert kernels.json() == [], kernels.json()
    users = httpx.get(
        f"{deployment.hub.url}/hub/api/users",
        headers={"Authorization": f"token {deployment.hub.api_token}"},
    ).json()
    assert not [u["name"] for u in users if u["name"].startswith("egh-")], users
    text = "".join(p.read_text(errors="replace") for p in run.report_dir.rglob("*") if p.is_file())
    assert gw.token not in text and deployment.hub.api_token not in text


def test_without_hub_the_hub_scenarios_skip_with_a_reason(
    deployment, tmp_path, monkeypatch, harness
):
    _with_tokens(monkeypatch, deployment)
    cfg = _config(tmp_path, deployment, hub=False)
    run = harness(["run", "--target", "existing", "--target-config", cfg, "--suite", "startup"])
    assert run.returncode == 0, run.explain()
    hub_tests = run.outcome("test_user_server_")
    for t in hub_tests:
        assert t["outcome"] == "skipped" and "no hub" in t["message"], t


def test_misconfigured_deployment_fails_in_the_owning_suite(tmp_path, monkeypatch, harness):
    broken = _deployment(faults=["profile_not_gateway"])
    try:
        _with_tokens(monkeypatch, broken)
        cfg = _config(tmp_path, broken)
        run = harness(
            [
                "run",
                "--target",
                "existing",
                "--target-config",
                cfg,
                "--suite",
                "startup",
                "--",
                "-k",
                "through_hub",
            ]
        )
    finally:
        left = broken.teardown()
    assert run.returncode == 1, run.explain()
    (owner,) = run.outcome("test_user_server_kernel_runs_on_gateway")
    assert owner["outcome"] == "failed" and "not in gateway mode" in owner["message"], owner
    assert not any(left.values()), left


def _cli(args, env=None):
    # A run that fails its target's pre-check still writes a report (issue 22): not in the
    # repository's reports/.
    with tempfile.TemporaryDirectory() as reports:
        proc = subprocess.run(
            [*harness_cmd(), *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
            env={**(env or _env()), "EG_HARNESS_REPORTS": reports},
        )
    return proc.returncode, proc.stderr.strip()


def test_refused_token_is_exit_3_one_line(deployment, tmp_path, monkeypatch):
    monkeypatch.setenv("T_GW", "wrong-token-0000")
    monkeypatch.setenv("T_HUB", deployment.hub.api_token)
    code, err = _cli(
        ["run", "--target", "existing", "--target-config", _config(tmp_path, deployment)],
        env=dict(os.environ),
    )
    assert code == 3, err
    assert len(err.splitlines()) == 1 and "refused the token" in err and "auth_token" in err, err


def test_unreachable_gateway_is_exit_3(tmp_path):
    port = ports.free_port()  # nothing listens there
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"gateway:\n  url: http://127.0.0.1:{port}\n")
    code, err = _cli(["run", "--target", "existing", "--target-config", str(cfg)])
    assert code == 3 and len(err.splitlines()) == 1 and "unreachable" in err, err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("gateway:\n  url: http://127.0.0.1:1\n  tokn: x\n", ["unknown key", "auth_token"]),
        ("hub:\n  url: http://127.0.0.1:1\n", ["missing required field", "gateway"]),
        ("gateway:\n  url: ftp://x\n", ["http://"]),
        (
            "gateway:\n  url: http://127.0.0.1:1\n  auth_token: ${EGH_UNSET_VAR_X}\n",
            ["EGH_UNSET_VAR_X", "not set"],
        ),
    ],
)
def test_bad_config_is_exit_2_one_line(tmp_path, text, words):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(text)
    code, err = _cli(["run", "--target", "existing", "--target-config", str(cfg)])
    assert code == 2 and len(err.splitlines()) == 1, (code, err)
    for word in words:
        assert word in err, err


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["run", "--suite", "nope"], ["unknown suite", "auth"]),
        (["run", "--local-fault", "nope"], ["unknown local fault"]),
        (["run", "--target", "existing"], ["--target-config"]),
        (["run", "--target", "existing", "--target-config", "/nonexistent.yaml"], ["not found"]),
    ],
)
def test_usage_errors_are_exit_2_one_line(args, words):
    code, err = _cli(args)
    assert code == 2 and len(err.splitlines()) == 1, (code, err)
    for word in words:
        assert word in err, err


def test_spark_choices_are_checked_on_an_existing_deployment(
    deployment, tmp_path, monkeypatch, harness
):
    _with_tokens(monkeypatch, deployment)
    cfg = _config(tmp_path, deployment, spark=True)
    run = harness(
        [
            "run",
            "--target",
            "existing",
            "--target-config",
            cfg,
            "--suite",
            "spark",
            "--",
            "-k",
            "reach or kubernetes",
        ],
        timeout=600,
    )
    assert run.returncode == 0, run.explain()
    outcomes = {t["name"]: t for t in run.results["tests"]}
    assert outcomes["test_profile_choices_reach_the_driver"]["outcome"] == "passed", outcomes
    assert outcomes["test_kernel_env_reaches_the_driver"]["outcome"] == "passed", outcomes
    kube = outcomes["test_driver_pod_resources_match_the_profile"]
    assert kube["outcome"] == "skipped" and "Kubernetes" in kube["message"], kube
    rows = next(t for t in run.results["tables"] if t["title"] == "Spark driver resources")["rows"]
    assert {(r[0], r[1]) for r in rows} == {("hub", "2g-2cpu"), ("gateway", "2g-2cpu")}, rows


def test_without_spark_section_the_spark_suite_skips_with_a_reason(
    deployment, tmp_path, monkeypatch, harness
):
    _with_tokens(monkeypatch, deployment)
    cfg = _config(tmp_path, deployment)
    run = harness(["run", "--target", "existing", "--target-config", cfg, "--suite", "spark"])
    # Every scenario skipped: nothing was proven, so no PASSED and exit 2 (issue 22).
    assert run.returncode == 2, run.explain()
    assert run.results["verdict"]["status"] == "no-tests", run.results["verdict"]
    assert run.results["tests"], "the spark suite collected nothing"
    for t in run.results["tests"]:
        assert t["outcome"] == "skipped" and "spark: section" in t["message"], t


def test_throughput_suite_on_an_existing_deployment(deployment, tmp_path, monkeypatch, harness):
    """Locust drives a deployment it knows only by URL; what needs process access skips."""
    _with_tokens(monkeypatch, deployment)
    cfg = _config(tmp_path, deployment)
    run = harness(["run", "--target", "existing", "--target-config", cfg, "--suite", "throughput"])
    assert run.returncode == 0, run.explain()
    outcomes = {t["name"]: t for t in run.results["tests"]}
    assert outcomes["test_storm_reaches_first_execute_for_every_user"]["outcome"] == "passed"
    for name, why in (
        ("test_churn_runs_on_two_locust_workers", "local target"),
        ("test_max_kernels_limit_holds_in_a_storm", "gateway.max_kernels"),
        ("test_per_user_limit_refuses_only_that_user", "per-user limit"),
    ):
        assert outcomes[name]["outcome"] == "skipped" and why in outcomes[name]["message"], (
            outcomes[name]
        )
    storm = run.results["load_runs"]["storm of 3"]
    assert storm["cpu_s_per_start"] is None, "CPU cannot be accounted on a remote deployment"


# A gateway that culls within a run (EG_CULL_IDLE_TIMEOUT 5, EG_CULL_INTERVAL 1), as the
# operator's target config then says.
CULLING = {
    "RemoteMappingKernelManager.cull_idle_timeout": 5,
    "RemoteMappingKernelManager.cull_interval": 1,
}


def test_lifecycle_scenarios_run_on_an_existing_deployment(tmp_path, monkeypatch, harness):
    """The resilience suite on a deployment the harness did not build: the scenarios on the
    harness's own user, server and kernels run and pass on a correct one, with what the
    deployment did in the findings table; those that need control of its components skip."""
    culling = LocalTarget(gateway_config=CULLING)
    try:
        culling.provision(lambda _m: None)
        _with_tokens(monkeypatch, culling)
        cfg = _config(tmp_path, culling, gateway="  cull_idle_timeout: 5\n  cull_interval: 1\n")
        run = harness(
            ["run", "--target", "existing", "--target-config", cfg, "--suite", "resilience"],
            timeout=600,
        )
    finally:
        left = culling.teardown()
    assert run.returncode == 0, run.explain()
    outcomes = {t["name"]: t for t in run.results["tests"]}
    lifecycle = {n: t for n, t in outcomes.items() if "/test_server_lifecycle.py" in t["nodeid"]}
    assert set(lifecycle) == {
        "test_stopped_server_leaves_no_kernel_on_the_gateway",
        "test_my_kernel_after_my_server_restarts",
        "test_my_idle_kernel_is_culled_at_the_gateways_timeout",
    }, lifecycle
    assert all(t["outcome"] == "passed" for t in lifecycle.values()), lifecycle
    others = [t for n, t in outcomes.items() if n not in lifecycle]
    assert others and all(t["outcome"] == "skipped" for t in others), others
    rows = next(t for t in run.results["tables"] if t["title"].startswith("resilience"))["rows"]
    stop = next(r for r in rows if r[0].startswith("user server stopped by the hub"))
    assert "deleted" in stop[1] and "culls kernels idle 5s, every 1s" in stop[2], stop
    cull = next(r for r in rows if r[0].startswith("my kernel left idle"))
    assert cull[1].startswith("culled") and cull[3] == "correct", cull
    assert not any(run.results["cleanup"].get(k) for k in run.results["cleanup"])
    assert not any(left.values()), left
