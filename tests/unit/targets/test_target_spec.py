"""The target's options are declared once (eg_harness.targets.spec) and travel without loss: a
command line's spec, turned into pytest's arguments and read back from pytest's options, is the
same spec; no parser anywhere else declares a target option or spells one into an argv."""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import pytest
from eg_harness.cli.main import parser as cli_parser
from eg_harness.errors import EXIT_USAGE, ConfigError
from eg_harness.targets.spec import FLAGS, KINDS, OPTIONS, TargetSpec, make_target

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[3]
SPEC_MODULE = ROOT / "harness" / "targets" / "spec.py"
# A flag that names something else where it is declared, with why.
OWN_MEANING = {
    ("harness/cli/soak.py", "--local-fault"): "the one fault a soak's failing runs get (dest "
    "`fault`); each run's target gets it through TargetSpec",
    ("harness/cli/audit.py", "--z2jh-chart"): "the chart `eg-harness audit` renders (no target "
    "is made); the node target's --z2jh-chart, the chart it installs, is TargetSpec's",
}


@pytest.fixture
def pytest_config(pytester):
    """A real pytest.Config (the plugin loaded as installed) parsing the given arguments."""

    def parse(argv: list[str]) -> pytest.Config:
        return pytester.parseconfig(*argv)

    return parse


def _cli(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    TargetSpec.add_arguments(p)
    return p.parse_args(list(argv))


@pytest.fixture(autouse=True)
def _no_target_from_the_environment(monkeypatch):
    monkeypatch.delenv("EG_HARNESS_TARGET", raising=False)
    monkeypatch.delenv("EG_HARNESS_TARGET_CONFIG", raising=False)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--target", "existing", "--target-config", "/etc/eg.yaml", "--allow-destructive"],
        ["--local-fault", "gateway_no_token", "--local-fault", "hub_down", "--run-id", "r-1"],
        ["--target", "kind", "--kind-cluster", "ci", "--keep-cluster", "--report-dir", "/r/x"],
        ["--target", "node", "--local-fault", "gateway_cannot_create_pods"],
    ],
)
def test_command_line_to_pytest_and_back_is_the_same_spec(argv, pytest_config):
    spec = TargetSpec.from_args(_cli(*argv))
    back = TargetSpec.from_pytest_config(pytest_config(spec.to_pytest_args()))
    assert back == spec
    # and the command line reads its own encoding back (repeat's and soak's child runs)
    assert TargetSpec.from_args(_cli(*spec.to_args())) == spec


def test_the_round_trip_would_see_a_lost_option(pytest_config):
    spec = TargetSpec(kind="kind", kind_cluster="ci", faults=("a", "b"))
    dropped = [a for a in spec.to_pytest_args() if a not in ("--kind-cluster", "ci")]
    assert TargetSpec.from_pytest_config(pytest_config(dropped)) != spec
    assert TargetSpec.from_pytest_config(pytest_config(spec.to_pytest_args()[:-2])) != spec


def test_the_old_plugin_spellings_give_the_same_spec(pytest_config):
    old = pytest_config(["--eg-report-dir", "/r/x", "--eg-run-id", "r-9"])
    new = pytest_config(["--report-dir", "/r/x", "--run-id", "r-9"])
    assert TargetSpec.from_pytest_config(old) == TargetSpec.from_pytest_config(new)
    assert TargetSpec.from_pytest_config(new).report_dir == Path("/r/x")


def test_the_plugin_takes_the_target_from_the_environment(monkeypatch, pytest_config):
    monkeypatch.setenv("EG_HARNESS_TARGET", "existing")
    monkeypatch.setenv("EG_HARNESS_TARGET_CONFIG", "/etc/eg.yaml")
    spec = TargetSpec.from_pytest_config(pytest_config([]))
    assert (spec.kind, spec.config_path) == ("existing", "/etc/eg.yaml")
    # a child run's spec names its kind, so the environment cannot change it
    assert TargetSpec.from_pytest_config(pytest_config(TargetSpec().to_args())).kind == "local"


def test_an_unknown_kind_is_one_line_and_a_usage_error():
    with pytest.raises(ConfigError, match="unknown target 'nosuch': choose one of local, "):
        TargetSpec(kind="nosuch")
    assert ConfigError.exit_code == EXIT_USAGE


def test_a_provider_gets_the_fields_its_constructor_names(tmp_path):
    with pytest.raises(
        ConfigError,
        match=r"^--target existing needs --target-config FILE "
        r"\(see clusters/examples/existing.yaml\)$",
    ):
        make_target(TargetSpec(kind="existing"))
    assert TargetSpec(kind="kind", kind_cluster="c", faults=("x",)).provider_options() == {
        "run_id": None,
        "kind_cluster": "c",
        "keep_cluster": False,
        "allow_destructive": None,
    }
    local = make_target(TargetSpec(run_id="r-2", faults=("gateway_no_token",)), with_hub=False)
    assert (local.kind, local.run_id, local.faults) == ("local", "r-2", ["gateway_no_token"])
    assert local.hub_on_demand is False  # with_hub=False: no hub to start later either


def test_named_decides_the_run_id_and_report_dir(tmp_path):
    given = TargetSpec(run_id="r-3", report_dir=tmp_path).named(suffix="before")
    assert (given.run_id, given.report_dir) == ("r-3", tmp_path)  # given ids are kept as given
    made = TargetSpec().named(suffix="after")
    assert made.run_id.endswith("-after") and made.report_dir.name == made.run_id


def test_every_kind_in_the_help_and_only_the_offered_ones_accepted():
    p = argparse.ArgumentParser()
    TargetSpec.add_arguments(p, "kind", kinds=("local", "existing"))
    assert p.parse_args([]).target == "local"
    with pytest.raises(SystemExit):
        p.parse_args(["--target", "node"])
    assert set(KINDS) == {"local", "existing", "kind", "node"}


# -- declared once ------------------------------------------------------------------------------
def declarations(root: Path, flags: tuple[str, ...]) -> list[tuple[str, str, int]]:
    """(file, flag, line) for every add_argument/addoption call, and every string in an argv,
    that spells one of `flags` outside the spec module: a second declaration or encoding."""
    found = []
    for folder in ("harness", "fixtures"):
        for path in sorted((root / folder).rglob("*.py")):
            if path == root / "harness" / "targets" / "spec.py":
                continue
            rel = str(path.relative_to(root))
            nodes = list(ast.walk(ast.parse(path.read_text(), rel)))
            parts = {id(v) for n in nodes if isinstance(n, ast.JoinedStr) for v in n.values}
            for node in nodes:
                if id(node) in parts:  # an f-string's pieces: the f-string is read whole
                    continue
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    text = node.value
                elif isinstance(node, ast.JoinedStr) and node.values:
                    first = node.values[0]
                    text = first.value if isinstance(first, ast.Constant) else ""
                else:
                    continue
                flag = text.split("=", 1)[0]
                if flag in flags and (text == flag or text.startswith(flag + "=")):
                    found.append((rel, flag, node.lineno))
    return found


def test_no_target_option_is_declared_or_spelt_outside_the_spec():
    found = [d for d in declarations(ROOT, FLAGS) if (d[0], d[1]) not in OWN_MEANING]
    assert not found, "declare target options with TargetSpec.add_arguments, encode with " + (
        "to_args(): " + "; ".join(f"{f}:{n} {flag}" for f, flag, n in found)
    )


def test_the_scan_finds_a_second_declaration_and_an_encoded_argv(tmp_path):
    cli = tmp_path / "harness" / "cli"
    cli.mkdir(parents=True)
    (tmp_path / "fixtures").mkdir()
    (cli / "x.py").write_text(
        'def add(p):\n    p.add_argument("--target-config", help="again")\n'
        'def argv(d):\n    return ["run", f"--report-dir={d}", "--target existing is prose"]\n'
    )
    assert declarations(tmp_path, FLAGS) == [
        ("harness/cli/x.py", "--target-config", 2),
        ("harness/cli/x.py", "--report-dir", 4),
    ]


def test_every_command_option_with_a_target_flag_came_from_the_spec():
    """The parsers as built: each action spelling a target flag has the spec's help for it (a
    hand-made twin would have its own words), except the flags OWN_MEANING explains."""
    helps = {opt.flag: opt.help for opt in OPTIONS}
    seen = 0

    def walk(p: argparse.ArgumentParser, path: str):
        nonlocal seen
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    walk(sub, f"{path} {name}")
                continue
            for flag in set(action.option_strings) & set(helps):
                if (path, flag) in {
                    ("eg-harness soak", "--local-fault"),
                    ("eg-harness audit", "--z2jh-chart"),  # OWN_MEANING: the chart it renders
                }:
                    continue
                seen += 1
                if flag == "--target":
                    assert action.help.startswith("the target: "), (path, flag)
                else:
                    assert action.help == helps[flag], (path, flag)

    walk(cli_parser(), "eg-harness")
    assert seen >= 15  # run, bench, bench-ws, load-worker, soak, up, upgrade
