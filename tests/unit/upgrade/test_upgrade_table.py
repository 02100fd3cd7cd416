"""Unit tests of the upgrade table's judgement, versions parsing and rendering (no stack)."""

from __future__ import annotations

import pytest
from eg_harness.checks import upgrade as table
from eg_harness.checks.upgrade import StepFacts, UserFacts
from eg_harness.errors import ConfigError
from eg_harness.report.html import render_html
from eg_harness.report.markdown import render_summary_md
from eg_harness.report.model import Results
from eg_harness.runtime import versions


def _step(step="gateway", *, kept=0, ws_end="open, but no output arrives (silent)", **kw):
    user = UserFacts(
        user="u1",
        server_kept=True,
        route_kept=True,
        kernels_kept=kept,
        state_kept=kept,
        websockets_kept=min(kept, 1),
        websocket_end=None if kept else ws_end,
        errors=[] if kept else ["HTTP 404: kernel not found"],
        first_error_s=None if kept else 1.0,
        recovered_s=0.0 if kept else 4.2,
        recovered_by="a new kernel",
    )
    base = {"action": "x", "users": 1, "kernels": 2, "websockets": 1, "per_user": [user]}
    return StepFacts(step=step, **{**base, **kw})


def test_gateway_kernel_loss_is_upstream_and_persistence_off_a_choice():
    f = _step("gateway", persistence=False)
    reasons = table.why(f)
    assert table.EG_1156 in reasons and table.EG_LOCAL_KERNELS in reasons
    assert table.PERSISTENCE_OFF in reasons
    assert table.EG_953 in reasons  # the socket stayed open with nothing behind it
    assert table.problems(f, 60) == []  # a loss is a finding, not a failure


def test_persistent_gateway_loss_cites_1156_but_no_choice():
    reasons = table.why(_step("gateway-persistent", persistence=True, ws_end="closed 1011"))
    assert table.EG_1156 in reasons
    assert table.PERSISTENCE_OFF not in reasons
    assert table.WS_CLOSED in reasons and table.EG_953 not in reasons


def test_nothing_lost_means_no_reasons_and_not_interrupted():
    f = _step("hub", kept=2, kernels=2)
    assert table.why(f) == []
    r = table.row(f)
    assert r[table.COLUMNS.index("kernels")] == "2/2"
    assert r[table.COLUMNS.index("time to a working cell")] == "not interrupted"


def test_hub_servers_lost_with_cleanup_servers_is_a_deployment_choice():
    f = _step("hub", cleanup_servers=True)
    f.per_user[0].server_kept = False
    assert table.CLEANUP_SERVERS in table.why(f)
    f.cleanup_servers = False
    assert table.CLEANUP_SERVERS not in table.why(f)


def test_a_user_never_recovering_or_an_orphan_fails_the_step():
    f = _step()
    f.per_user[0].recovered_s = None
    assert "no working cell within 60s" in table.problems(f, 60)[0]
    g = _step(orphans=["kernel abcd1234 (pid 1) unknown to the gateway"])
    assert "left orphaned" in table.problems(g, 60)[0]
    assert table.row(f)[table.COLUMNS.index("time to a working cell")].startswith("never")


def test_a_step_that_could_not_complete_fails_with_its_cause():
    f = StepFacts(step="hub", action="x", step_error="JupyterHub exited: run upgrade-db")
    assert table.problems(f, 60) == [
        "the hub step could not be completed: JupyterHub exited: run upgrade-db"
    ]
    assert table.row(f)[-1].startswith("FAILED: ")


def test_versions_parse_defaults_and_errors():
    cur = versions.current()
    assert cur.gateway == "3.3.0" and cur.hub == "6.1.1"
    a = versions.parse("gateway=3.2.3, hub=5.5.4", cur)
    assert (a.gateway, a.hub, a.jupyter_server) == ("3.2.3", "5.5.4", cur.jupyter_server)
    for bad in ("gateway", "kernel=1.0", "hub=latest"):
        with pytest.raises(ConfigError, match="COMPONENT=VERSION"):
            versions.parse(bad, cur)


def test_default_from_has_committed_locks_with_its_pins():
    a = versions.default_from()
    for env, dist, version in (
        ("gateway", "jupyter-enterprise-gateway", a.gateway),
        ("hub", "jupyterhub", a.hub),
        ("hub", "jupyter-server", a.jupyter_server),
        ("hub", "jupyterlab", a.jupyterlab),
    ):
        lock = versions.committed_lock(env, a)
        assert lock.exists(), lock
        assert f"\n{dist}=={version}\n" in lock.read_text()
    assert versions.committed_lock("gateway", versions.current()).name == "gateway.lock"
    assert "jupyterhub==5.5.4" in versions.render_in("hub", a)


def test_upgrade_section_renders_in_html_and_markdown():
    f = _step("gateway")
    results = Results.model_validate(
        {
            "kind": "upgrade",
            "run_id": "r1",
            "target": {"kind": "local"},
            "tests": [
                {
                    "nodeid": "upgrade::gateway",
                    "suite": "upgrade",
                    "name": "gateway",
                    "outcome": "passed",
                }
            ],
            "upgrade": {
                "from_versions": {"gateway": "3.2.3"},
                "to_versions": {"gateway": "3.3.0"},
                "recover_timeout_s": 60,
                "steps": [f.model_dump()],
            },
        }
    )
    html = render_html(results)
    assert 'id="upgrade"' in html and "enterprise_gateway#1156" in html
    md = render_summary_md(results)
    assert "### Upgrade A → B" in md and "| gateway | `3.2.3` | `3.3.0` |" in md


def test_upgraded_stack_config_carries_no_token_and_loads_as_an_existing_target(tmp_path):
    import yaml
    from eg_harness.targets.endpoints import GatewayEndpoint, HubEndpoint
    from eg_harness.targets.existing.config import load_existing_config
    from eg_harness.targets.local import spark
    from eg_harness.targets.local.target import LocalTarget
    from eg_harness.upgrade.runner import existing_config

    t = LocalTarget()
    t.gateway = GatewayEndpoint("http://127.0.0.1:1", "gw-secret-token", kernelspec="python3")
    t.hub = HubEndpoint("http://127.0.0.1:2", "hub-secret-token")
    t.spark = spark.endpoint()
    path = tmp_path / "stack.yaml"
    path.write_text(yaml.safe_dump(existing_config(t)))
    assert "secret-token" not in path.read_text()
    cfg = load_existing_config(
        path,
        {"EGH_UPGRADED_GATEWAY_TOKEN": "gw-secret-token", "EGH_UPGRADED_HUB_TOKEN": "h"},
    )
    assert cfg.gateway.auth_token.get_secret_value() == "gw-secret-token"
    assert cfg.allow_destructive is True
