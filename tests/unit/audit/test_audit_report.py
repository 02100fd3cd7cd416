"""The audit says what it layered over clusters/kind/ (files and keys) and how to run the same
audit explicitly, and a finding that differs only by the profile choices that reached it is
one finding listing them. No engines run here: the judgement and the record only."""

from __future__ import annotations

import shlex

from eg_harness.audit import checks
from eg_harness.audit.deployment import Deployment, Release, kind_deployment, leaf_keys
from eg_harness.audit.findings import AuditResult, CheckRun
from eg_harness.cli.audit import deployment_from
from eg_harness.cli.main import parser

TOKEN_PLACEHOLDER = "<token>"


def test_the_no_argument_mode_names_what_it_layered_over_clusters_kind():
    dep = kind_deployment(token="t0ken-for-the-test")
    layers = dep.layers()
    added = {(la.kind, tuple(la.keys)) for la in layers if la.added}
    assert ("--set-string", ("authToken",)) in added
    assert ("--set-string", ("hub.extraEnv.EG_AUTH_TOKEN",)) in added
    assert ("--set-file", ("hub.extraConfig.jupyter_gateway_config\\.py",)) in added
    assert ("--set-file", ("hub.extraFiles.jupyter_gateway_form.stringData",)) in added
    given = [la.source for la in layers if not la.added]
    assert [s.split("clusters/")[-1] for s in given] == [
        "kind/enterprise-gateway-values.yaml",
        "kind/jupyterhub-profile/values.yaml",
    ]
    # z2jh's default policy blocks the gateway: the kind target's overlay is layered, by key.
    overlay = [la for la in layers if la.added and la.kind == "values file"]
    assert [la.keys for la in overlay] == [["singleuser.networkPolicy.egress"]]
    assert "egress rule" in overlay[0].why
    assert all(la.why for la in layers if la.added)
    # The token never appears, in the layers or the command.
    assert "t0ken-for-the-test" not in repr(layers) + dep.reproduce()
    assert dep.assumptions and "--images-local" in dep.assumptions[0]


def test_the_explicit_command_is_the_same_deployment():
    dep = kind_deployment(token="t0ken-for-the-test")
    argv = shlex.split(dep.reproduce())
    assert argv[:2] == ["eg-harness", "audit"] and "--images-local" in argv
    again = deployment_from(parser().parse_args(argv[1:]))
    for mine, theirs in ((dep.gateway, again.gateway), (dep.hub, again.hub)):
        assert [str(f) for f in theirs.values_files] == [str(f) for f in mine.values_files]
        # helm applies --set, then --set-string, then --set-file, whatever their order on the
        # command line (and so does the audit's CLI): compare them as a set of arguments.
        expected = {
            (a.flag, a.key, TOKEN_PLACEHOLDER if a.secret else a.value, a.secret) for a in mine.sets
        }
        assert {(a.flag, a.key, a.value, a.secret) for a in theirs.sets} == expected
    assert again.images_local


def test_the_record_is_in_the_json_and_the_text():
    dep = kind_deployment(token="t0ken-for-the-test")
    result = AuditResult(
        deployment=dep.label,
        kubernetes_version="1.35",
        engines={},
        checks=[CheckRun(name="x", status="ran")],
        findings=[],
        layers=dep.layers(),
        assumptions=list(dep.assumptions),
        reproduce=dep.reproduce(),
    )
    doc = result.model_dump(mode="json")
    assert {"layers", "assumptions", "reproduce"} <= set(doc)
    assert any(la["added"] and la["keys"] == ["authToken"] for la in doc["layers"])
    text = result.text()
    assert "layered over the given files" in text and "sets singleuser.networkPolicy.egress" in text
    assert "the same audit, explicitly: eg-harness audit --eg-values" in text


def test_leaf_keys_stop_at_lists():
    assert leaf_keys({"a": {"b": 1, "c": [1, 2]}, "d": {}}) == ["a.b", "a.c", "d"]


def _ctx(builds: list[tuple[dict, dict]]) -> checks.Context:
    """A hub whose one gateway profile 'spark' KubeSpawner built once per choice."""
    hub = Release("jupyterhub", "jupyterhub", [])
    dep = Deployment(None, hub, gateway_profiles=("spark",))
    env = {"KERNEL_MEMORY": "2Gi"}
    ctx = checks.Context(
        dep,
        hub_values={
            "singleuser": {
                "profileList": [{"slug": "spark", "kubespawner_override": {"environment": env}}]
            }
        },
        hub_owner={("singleuser",): "hub-values.yaml"},
    )
    ctx.hub_probe = {
        "profiles": [
            {
                "index": 0,
                "slug": "spark",
                "builds": [
                    {"choices": c, "pod": {"kernel_env": e, "server": {}}} for c, e in builds
                ],
                "unknown_keys": [],
            }
        ]
    }
    return ctx


def test_findings_that_differ_only_by_choice_are_one_finding_listing_the_choices():
    ctx = _ctx(
        [
            ({"cpu": "1", "size": "small"}, {"KERNEL_MEMORY": "2Gi"}),
            ({"cpu": "2", "size": "small"}, {"KERNEL_MEMORY": "2Gi"}),
            ({"cpu": "4", "size": "small"}, {"KERNEL_MEMORY": "2Gi"}),
        ]
    )
    checks.check_kernel_resources(ctx)
    [f] = ctx.findings
    assert f.check == "spark-memory-units"
    assert f.choices == [
        {"cpu": "1", "size": "small"},
        {"cpu": "2", "size": "small"},
        {"cpu": "4", "size": "small"},
    ]
    assert "(profile spark, 3 choices: cpu=1, size=small; cpu=2, size=small; cpu=4" in f.why
    assert "\0" not in f.why and f.line().count("KERNEL_MEMORY=2Gi") == 1


def test_findings_that_differ_in_more_than_choice_stay_apart():
    ctx = _ctx(
        [
            ({"cpu": "1"}, {"KERNEL_MEMORY": "2Gi"}),
            ({"cpu": "2"}, {"KERNEL_MEMORY": "4Gi"}),
        ]
    )
    checks.check_kernel_resources(ctx)
    assert sorted(f.why.split(" ")[0] for f in ctx.findings) == [
        "KERNEL_MEMORY=2Gi",
        "KERNEL_MEMORY=4Gi",
    ]
    assert [f.choices for f in ctx.findings] == [[{"cpu": "1"}], [{"cpu": "2"}]]
    assert all("(profile spark, choices cpu=" in f.why for f in ctx.findings)


def test_a_profile_without_options_says_so():
    ctx = _ctx([({}, {"KERNEL_MEMORY": "2Gi"})])
    checks.check_kernel_resources(ctx)
    [f] = ctx.findings
    assert f.choices == [{}] and "(profile spark, no profile options)" in f.why


def test_a_finding_without_choices_is_recorded_once():
    ctx = _ctx([])
    for _ in range(2):
        ctx.add("token-not-string", "values.yaml", "authToken", "why.", "fix.")
    assert len(ctx.findings) == 1 and ctx.findings[0].choices == []
