"""`eg-harness upgrade` takes its target from the registry for every kind it offers: the stack
it hands the runner is `make_target(spec, upgrade=True)`'s (the runner stopped before it starts
anything)."""

from __future__ import annotations

import argparse

import pytest
from eg_harness.cli import upgrade as cli
from eg_harness.errors import ConfigError
from eg_harness.targets.local.target import LocalTarget
from eg_harness.targets.node.upgrade import NodeUpgradeTarget
from eg_harness.targets.spec import PROVIDERS, UPGRADABLE
from eg_harness.upgrade import runner


class Handed(Exception):
    """What the runner was given, raised in its place."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="eg-harness")
    cli.add_parsers(parser.add_subparsers())
    return parser


def _handed_target(monkeypatch, argv):
    def fake_upgrade(target, plan, **kwargs):
        raise Handed(target, plan, kwargs)

    monkeypatch.setattr(runner, "upgrade", fake_upgrade)
    monkeypatch.setattr(cli, "sigterm_as_interrupt", lambda: None)
    args = _parser().parse_args(argv)
    with pytest.raises(Handed) as handed:
        args.func(args)
    return handed.value.args


@pytest.mark.parametrize("kind", PROVIDERS)
def test_the_upgrade_command_offers_the_registrys_upgradable_kinds(kind, capsys):
    if kind in UPGRADABLE:
        assert _parser().parse_args(["upgrade", "--target", kind]).target == kind
    else:
        with pytest.raises(SystemExit):
            _parser().parse_args(["upgrade", "--target", kind])
        assert "invalid choice" in capsys.readouterr().err
    assert _parser().parse_args(["upgrade"]).target == UPGRADABLE[0]
    # Steps, default suites and release pairs are each upgrade class's own (Upgradable):
    # tests/unit/targets/test_upgradable.py; the command keeps no table keyed by the kind.
    assert not [name for name, v in vars(cli).items() if isinstance(v, dict) and kind in v]


def test_node_upgrade_gets_the_node_upgrade_class_at_release_a(monkeypatch, tmp_path):
    target, plan, kwargs = _handed_target(
        monkeypatch,
        [
            "upgrade",
            "--target",
            "node",
            "--from",
            "3.2.3",
            "--to",
            "3.3.0",
            "--suite",
            "none",
            "--run-id",
            "r-cli-node",
            "--report-dir",
            str(tmp_path),
            "--local-fault",
            "kernel_pod_no_memory_request",
        ],
    )
    assert type(target) is NodeUpgradeTarget
    assert (target.eg_version, target.run_id) == ("3.2.3", "r-cli-node")
    assert target.faults == ["kernel_pod_no_memory_request"]
    assert plan.steps == ("gateway-chart",) and kwargs["report_dir"] == tmp_path


def test_local_upgrade_gets_the_local_stack_at_a(monkeypatch, tmp_path):
    target, plan, kwargs = _handed_target(
        monkeypatch,
        [
            "upgrade",
            "--from",
            "3.2.3",
            "--suite",
            "none",
            "--cleanup-servers",
            "--run-id",
            "r-cli-local",
            "--report-dir",
            str(tmp_path),
        ],
    )
    assert type(target) is LocalTarget and target.run_id == "r-cli-local"
    assert target.stack_versions == plan.origin and target.stack_versions.gateway == "3.2.3"
    assert target._hub_settings == {"cleanup_servers": True}


def test_node_upgrade_refuses_cleanup_servers_before_building_anything(monkeypatch):
    monkeypatch.setattr(cli, "make_target", lambda *a, **k: pytest.fail("a target was built"))
    args = _parser().parse_args(["upgrade", "--target", "node", "--cleanup-servers"])
    with pytest.raises(ConfigError, match="^--cleanup-servers: the node target's hub keeps"):
        args.func(args)
