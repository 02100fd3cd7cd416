"""`eg-harness audit` through its CLI, with the real engines (helm, EG's chart from its sdist,
KubeSpawner, jupyter_server, Kubernetes schemas) from the cached audit tool environment.

Each broken deployment is the kind values plus one small fixture file (audit_fixtures/); the
test expects exactly the findings it names, by check, file and key. Some fixtures are traps
the issue lists; others (wrong types, unknown fields, a failing extra config) must be caught
by schema validation or by running the real code. Every audit here shares one probe process
(tools.run_probe), each request in a child forked for it: the token case without EG_AUTH_TOKEN,
after cases that set it, fails if one request's environment leaks into the next (checked by
answering in-process instead). Cost: about 10 s of CPU for the file (68 s before the shared
probe), 1-2 s per case that builds user pods, well under 1 s per gateway-only case.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from eg_harness.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
FIX = Path(__file__).with_name("audit_fixtures")
KIND = ROOT / "clusters" / "kind"
PROFILE = KIND / "jupyterhub-profile"
EG_VALUES = str(KIND / "enterprise-gateway-values.yaml")
TOKEN = "audit-selftest-token"


def _hub_args(*extra_values: str, extra_config: Path = PROFILE / "extra-config.py", token=True):
    from eg_harness.audit.deployment import kind_network_overlay

    args = ["--hub-values", str(PROFILE / "values.yaml")]
    overlay = kind_network_overlay(PROFILE / "values.yaml")
    if overlay and not any("no-egress" in v for v in extra_values):
        args += ["--hub-values", str(overlay)]
    for v in extra_values:
        args += ["--hub-values", v]
    args += [
        "--hub-set-file",
        f"hub.extraConfig.jupyter_gateway_config\\.py={extra_config}",
        "--hub-set-file",
        f"hub.extraFiles.jupyter_gateway_form.stringData={PROFILE / 'profile-form.html'}",
    ]
    if token:
        args += ["--hub-set-string", f"hub.extraEnv.EG_AUTH_TOKEN={TOKEN}"]
    return args


def _audit(tmp_path, *args) -> tuple[int, dict]:
    out = tmp_path / "audit.json"
    code = main(["audit", "--json", str(out), *args])
    return code, (json.loads(out.read_text()) if out.exists() else {})


def _found(doc) -> set[tuple[str, str, str]]:
    return {(f["check"], Path(f["file"]).name, f["key"]) for f in doc["findings"]}


# The seed's driver memory choices (1g, 2g) are Spark sizes, and the user server sends them
# with every kernel: the python_kubernetes kernel pod's requests.memory refuses them (a
# Kubernetes quantity is 1G or 1Gi), judged by rule (eg_harness.audit.grammar).
SEED_MEMORY = "singleuser.profileList[0].profile_options.driver_memory.choices.{}"
SEED_GRAMMAR = {
    (
        "kernel-value-grammar",
        "values.yaml",
        SEED_MEMORY.format(size) + ".kubespawner_override.environment.KERNEL_MEMORY",
    )
    for size in ("1g", "2g")
} | {
    # Its free-text choice has no validation_regex (on purpose: the spark suite sends bad sizes
    # through it), so any spelling reaches the same consumers.
    (
        "free-text-grammar",
        "values.yaml",
        "singleuser.profileList[0].profile_options.driver_memory.unlisted_choice",
    )
}


def test_the_seed_files_as_written_in_clusters_kind_pass_but_for_the_memory_spellings(tmp_path):
    code, doc = _audit(tmp_path)
    assert _found(doc) == SEED_GRAMMAR, doc["findings"]
    for f in doc["findings"]:
        if f["check"] == "free-text-grammar":
            assert "'1Gi' (spark.driver.memory" in f["why"] and "^[0-9]+[MG]$" in f["fix"]
            continue
        assert "kernel pod resources.requests.memory (R_kubernetes, python_kubernetes" in f["why"]
        assert "spark.driver.memory (spark_R_kubernetes, spark_python_kubernetes" in f["why"]
    assert code == 1
    ran = {c["name"].split(" (")[0]: c["status"] for c in doc["checks"]}
    assert ran["render EG's chart with helm template"] == "ran"
    # z2jh is not on any registry reachable offline: said, never passed silently.
    assert any(c["status"] == "not run" and "z2jh" in c["name"] for c in doc["checks"])
    assert "helm 3." in doc["engines"]["helm"]


EG_CASES = {
    "eg-pull-always.yaml": {
        ("pull-policy-always", "eg-pull-always.yaml", "kernelspecs.imagePullPolicy")
    },
    "eg-kip-enabled.yaml": {
        ("image-puller-with-local-images", "eg-kip-enabled.yaml", "kip.enabled")
    },
    "eg-latest-image.yaml": {("image-latest", "eg-latest-image.yaml", "image")},
    "eg-limit-below-request.yaml": {
        ("limit-below-request", "eg-limit-below-request.yaml", "deployment.resources.limits.cpu")
    },
    # not in the list: found by the strict Kubernetes schemas
    "eg-wrong-type.yaml": {("schema-invalid", "eg-wrong-type.yaml", "deployment.replicas")},
    "eg-unknown-field.yaml": {
        ("schema-invalid", "eg-unknown-field.yaml", "deployment.resources.requets")
    },
    "eg-bad-toleration.yaml": {
        (
            "schema-invalid",
            "eg-bad-toleration.yaml",
            "deployment.tolerations[0].tolerationSeconds",
        )
    },
}


@pytest.mark.parametrize("fixture", sorted(EG_CASES))
def test_a_broken_gateway_values_file_is_named_by_file_and_key(tmp_path, fixture):
    code, doc = _audit(
        tmp_path,
        "--images-local",
        "--eg-values",
        EG_VALUES,
        "--eg-values",
        str(FIX / fixture),
        "--eg-set-string",
        f"authToken={TOKEN}",
    )
    assert _found(doc) == EG_CASES[fixture]
    assert code == 1


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--eg-set", "authToken=12345"], "auth-token-not-string"),
        (["--eg-set", "authToken=true"], "auth-token-not-string"),
        ([], "gateway-exposed-without-token"),  # the values file's empty token, NodePort
    ],
)
def test_a_token_that_is_no_string_or_empty_is_a_finding(tmp_path, args, expected):
    code, doc = _audit(tmp_path, "--eg-values", EG_VALUES, *args)
    assert {f["check"] for f in doc["findings"]} == {expected}
    assert {f["key"] for f in doc["findings"]} == {"authToken"}
    assert code == 1
    assert "12345" not in json.dumps(doc) or args[-1] != "authToken=12345"


def test_broken_profiles_each_name_their_own_key(tmp_path):
    code, doc = _audit(
        tmp_path,
        "--eg-values",
        EG_VALUES,
        "--eg-set-string",
        f"authToken={TOKEN}",
        *_hub_args(str(FIX / "hub-profiles.yaml")),
    )
    name = "hub-profiles.yaml"
    assert _found(doc) == {
        (
            "spark-memory-units",
            name,
            "singleuser.profileList[1].kubespawner_override.environment.KERNEL_MEMORY",
        ),
        (
            "limit-below-request",
            name,
            "singleuser.profileList[2].kubespawner_override.environment.KERNEL_CPUS_LIMIT",
        ),
        ("override-ignored", name, "singleuser.profileList[3].kubespawner_override.cpu_limits"),
        ("gateway-url-wrong", name, "singleuser.profileList[4].kubespawner_override"),
    }
    assert code == 1


def test_policy_timeout_and_token_across_the_two_releases(tmp_path):
    code, doc = _audit(
        tmp_path,
        "--eg-values",
        EG_VALUES,
        "--eg-set-string",
        f"authToken={TOKEN}",
        *_hub_args(
            str(FIX / "hub-no-egress.yaml"),
            extra_config=FIX / "hub-short-timeout.py",
            token=False,
        ),
    )
    assert {(c, k) for c, _, k in _found(doc)} == {
        ("network-policy-blocks-gateway", "singleuser.networkPolicy"),
        ("launch-timeout-mismatch", "singleuser.profileList[0].kubespawner_override"),
        ("gateway-token-not-sent", "singleuser.profileList[0].kubespawner_override"),
    } | {(c, k) for c, _, k in SEED_GRAMMAR}
    assert code == 1


def test_gateway_mode_needs_the_extra_config(tmp_path):
    code, doc = _audit(
        tmp_path,
        "--eg-values",
        EG_VALUES,
        "--eg-set-string",
        f"authToken={TOKEN}",
        *_hub_args(extra_config=FIX / "hub-extra-config-typo.py"),
    )
    # (the seed's free-text memory choice is judged from the values, extra config or not)
    assert {f["check"] for f in doc["findings"]} == {"extra-config-fails", "free-text-grammar"}
    assert code == 1


@pytest.mark.parametrize(
    "args",
    [
        ["--eg-values", str(FIX / "not-yaml.yaml")],
        ["--eg-values", str(FIX / "does-not-exist.yaml")],
        ["--hub-set-file", f"hub.extraConfig.x={FIX / 'missing.py'}"],
        ["--eg-set", "authToken"],
    ],
)
def test_unreadable_input_is_exit_2(tmp_path, args, capsys):
    assert main(["audit", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eg-harness: ")


def test_one_probe_serves_the_audits_and_ends_with_its_stdin(tmp_path):
    """The probe process every audit of a process shares: each request answered in a child it
    has reaped by the time the answer arrives, and gone, by itself, once its stdin closes (as
    at exit, or when the harness process dies)."""
    import psutil
    from eg_harness.audit import tools

    code, _doc = _audit(tmp_path, "--eg-values", EG_VALUES, "--eg-set-string", f"authToken={TOKEN}")
    assert code == 0
    probe = tools._probe
    assert probe is not None and probe.proc.poll() is None
    assert psutil.Process(probe.proc.pid).children(recursive=True) == []
    tools.close_probe()
    assert probe.proc.returncode == 0  # it ended on EOF; close_probe did not have to kill it
    assert tools._probe is None
