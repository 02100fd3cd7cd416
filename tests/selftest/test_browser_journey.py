"""The browser suite passes on the correct local target (the positive half of its three negative
twins): every step of the journey is a timed phase in results.json, the figures print, and a
passing journey leaves no screenshot behind."""

from __future__ import annotations

import pytest
from eg_harness.browser import chromium, figures, lab
from eg_harness.targets.local.target import LocalTarget

pytestmark = [pytest.mark.slow, pytest.mark.long]

STEPS = (
    "login", "spawn_form", "lab_loads", "launcher", "notebook_create", "kernel_idle", "execute",
    "error_output", "rich_output", "interrupt", "restart", "after_restart", "shutdown",
    "new_launcher", "second_notebook_create", "second_kernel_idle", "stop_server",
)  # fmt: skip


def test_the_journey_passes_and_every_step_is_a_phase(harness):
    reason = chromium.unavailable()
    if reason:
        pytest.skip(reason)
    run = harness(["run", "--suite", "browser"], timeout=600)
    assert run.returncode == 0, run.explain()
    res = run.results
    assert [t["outcome"] for t in run.outcome("test_user_journey_in_lab")] == ["passed"]
    phases = [m["attrs"]["phase"] for m in res["metrics"] if m["name"] == "browser_phase"]
    assert set(phases) >= set(STEPS), sorted(set(STEPS) - set(phases))
    figs = figures.figures(res)
    assert figs["user"][lab.LOGIN_TO_LAB]["n"] == 1
    assert figs["user"][lab.OPEN_TO_IDLE]["n"] == 2  # both notebooks
    assert figs["user"][lab.EXECUTE_TO_OUTPUT]["n"] == 5
    assert figs["api"]["kernel requested -> first execute reply (hub)"]["n"] == 1
    diag = run.report_dir / "diagnostics"
    shots = sorted(p.name for p in diag.glob("browser-*")) if diag.is_dir() else []
    assert not shots, f"a passing journey left failure diagnostics: {shots}"


def _existing_config(tmp_path, deployment, name: str, pages: str = "") -> str:
    """The local stack described as an existing deployment: URLs, tokens by environment, and
    the hub's pages as an operator would write them."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(
        f"gateway:\n  url: {deployment.gateway.url}\n  auth_token: ${{T_GW}}\n"
        "  kernelspec: python3\n"
        f"hub:\n  url: {deployment.hub.url}\n  api_token: ${{T_HUB}}\n"
        f"  profile: jupyter-gateway\n  spawn_timeout: 90\n{pages}"
    )
    return str(path)


def _browser_run(harness, cfg: str, timeout: float):
    return harness(
        ["run", "--target", "existing", "--target-config", cfg, "--suite", "browser"],
        timeout=timeout,
    )


def test_the_journey_on_an_existing_target_follows_its_hub_pages(harness, tmp_path, monkeypatch):
    """The same journey on a deployment the harness did not start (the local stack, described
    by YAML): it passes with the hub's pages as written; a spawn-form option the config names
    and the form lacks fails the spawn_form step naming its label (so the check reads the
    config, not a list of the seed's); login: none skips naming the key."""
    reason = chromium.unavailable()
    if reason:
        pytest.skip(reason)
    deployment = LocalTarget()
    try:
        deployment.provision(lambda _m: None)
        monkeypatch.setenv("T_GW", deployment.gateway.token)
        monkeypatch.setenv("T_HUB", deployment.hub.api_token)
        seed = "  pages:\n    login: form\n    form_options: {%s}\n    free_text_option: %s\n"
        options = (
            "image: Spark driver image, driver_memory: Driver memory, driver_cores: Driver CPUs"
        )
        cfg = _existing_config(tmp_path, deployment, "seed", seed % (options, "driver_memory"))
        run = _browser_run(harness, cfg, 600)
        assert run.returncode == 0, run.explain()
        assert run.results["target"]["kind"] == "existing"
        assert [t["outcome"] for t in run.outcome("test_user_journey_in_lab")] == ["passed"]
        phases = {
            m["attrs"]["phase"] for m in run.results["metrics"] if m["name"] == "browser_phase"
        }
        assert phases >= set(STEPS), sorted(set(STEPS) - phases)
        assert figures.figures(run.results)["user"][lab.OPEN_TO_IDLE]["n"] == 2

        wider = _existing_config(
            tmp_path, deployment, "gpu", seed % (options + ", gpu: GPU model", "driver_memory")
        )
        run = _browser_run(harness, wider, 600)
        assert run.returncode == 1, run.explain()
        (failed,) = run.outcome("test_user_journey_in_lab")
        assert failed["outcome"] == "failed", failed
        assert "'spawn_form'" in failed["message"] and "GPU model" in failed["message"], failed
        assert "Driver memory" not in failed["message"], failed  # only what the form lacks
        shots = sorted(
            p.name for p in (run.report_dir / "diagnostics").glob("browser-*spawn_form*")
        )
        assert any(s.endswith(".png") for s in shots), shots

        closed = _existing_config(tmp_path, deployment, "oauth", "  pages: {login: none}\n")
        run = _browser_run(harness, closed, 300)
        (skipped,) = run.outcome("test_user_journey_in_lab")
        assert skipped["outcome"] == "skipped" and "hub.pages.login" in skipped["message"], skipped
    finally:
        left = deployment.teardown()
    assert not any(left.values()), left
