"""The command line speaks one language: every option says what it does, one name per concept
across commands and the pytest plugin (old spellings still work, hidden), `--version`, and a
suite catalogue that matches the suites and scenarios/README.md."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from eg_harness import resources, suites
from eg_harness.cli.main import parser

pytest_plugins = ["pytester"]


def _walk(parser: argparse.ArgumentParser, path: tuple[str, ...]):
    """Every (command path, action) of a parser and its subcommands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helped = {a.dest for a in action._choices_actions}
            for name, sub in action.choices.items():
                yield (
                    path + (name,),
                    (
                        "subcommand",
                        name in helped
                        and bool(next(a.help for a in action._choices_actions if a.dest == name)),
                    ),
                )
                yield from _walk(sub, path + (name,))
        else:
            yield path, action


def test_every_option_and_command_has_help():
    missing = []
    n = 0
    for path, action in _walk(parser(), ("eg-harness",)):
        if isinstance(action, tuple):
            if not action[1]:
                missing.append(" ".join(path) + " (the command itself)")
            continue
        if isinstance(action, (argparse._HelpAction, argparse._VersionAction)):
            continue
        n += 1
        # help=argparse.SUPPRESS is deliberate: a deprecated alias or an internal knob.
        if not action.help:
            missing.append(" ".join(path) + " " + (", ".join(action.option_strings) or action.dest))
    assert n > 100  # the walk reached every command's options
    assert not missing, "options without help: " + "; ".join(missing)


def test_a_missing_help_is_caught():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers()
    s = sub.add_parser("x", help="x")
    s.add_argument("--undocumented")
    found = [a for path, a in _walk(p, ("p",)) if not isinstance(a, tuple) and not a.help]
    assert [a.option_strings for a in found] == [["--undocumented"]]


def _parse(*argv: str) -> argparse.Namespace:
    return parser().parse_args(list(argv))


def _help_of(command: str) -> str:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices[
        command
    ]
    return sub.format_help()


def test_one_name_per_concept_and_the_old_spellings_still_work():
    # Seeding a fault: --local-fault everywhere (soak used --fault).
    assert _parse("soak", "--runs", "2", "--local-fault", "hub_down").fault == "hub_down"
    assert _parse("soak", "--runs", "2", "--fault", "hub_down").fault == "hub_down"
    assert "--local-fault" in _help_of("soak") and "--fault " not in _help_of("soak")
    for command in ("run", "bench", "up", "upgrade"):
        assert "--local-fault" in _help_of(command), command
    # Load-generator workers are --load-workers; -n/--workers is pytest-xdist's, in run.
    assert _parse("bench", "--load-workers", "2").workers == 2
    assert _parse("bench", "--workers", "3").workers == 3
    assert "--load-workers" in _help_of("bench") and "--workers" not in _help_of("bench")
    assert _parse("run", "-n", "2").workers == "2" and "--workers" in _help_of("run")
    # Report dir and run id: the same names on every command that writes a report.
    for command in ("run", "bench", "bench-ws", "upgrade"):
        assert "--report-dir" in _help_of(command) and "--run-id" in _help_of(command), command


def test_version_is_the_package_version(capsys):
    with pytest.raises(SystemExit) as done:
        _parse("--version")
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"eg-harness {metadata.version('eg-harness')}"


def test_the_plugin_takes_the_cli_names_and_keeps_the_old_ones(pytester):
    pytester.makepyfile(test_one="def test_ok():\n    pass\n")
    for flag in ("--report-dir", "--eg-report-dir"):
        out = pytester.path / flag.strip("-")
        result = pytester.runpytest_inprocess(
            f"{flag}={out}", f"--run-id=x{flag}", "-p", "no:junitxml"
        )
        assert result.ret == 0, result.stdout.str()
        assert json.loads((out / "results.json").read_text())["run_id"] == f"x{flag}"
    shown = pytester.runpytest_inprocess("--help").stdout.str()
    assert "--report-dir" in shown and "--run-id" in shown and "--phase" in shown
    assert "--eg-report-dir" not in shown and "--eg-run-id" not in shown


def test_the_catalogue_lists_every_suite_and_only_suites():
    assert suites.check() == []
    assert len(suites.names()) == 11
    for s in suites.catalogue():
        assert s.proves and s.usual_time_s > 0, s.name


def test_scenarios_readme_table_is_the_catalogue():
    readme = (resources.SCENARIOS / "README.md").read_text()
    assert suites.markdown_table() in readme, "regenerate: eg-harness suites --markdown"
    rows = [line for line in readme.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == 1 + len(suites.names())


def test_suites_command_counts_collected_scenarios():
    r = subprocess.run(
        [sys.executable, "-m", "eg_harness", "suites", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert [d["name"] for d in doc] == [s.name for s in suites.catalogue()]
    assert {d["counted"] for d in doc} == {"collected"}
    by = {d["name"]: d for d in doc}
    # Collected counts parametrized cases apart: never fewer than the test functions.
    for name, d in by.items():
        assert d["scenarios"] >= suites.counted_tests(name) > 0, name
    assert by["abuse"]["scenarios"] > suites.counted_tests("abuse")  # parametrized
    assert by["spark"]["needs"] == {
        "spark": "all",
        "hub": "some",
        "kubernetes": "some",
        "local": "some",
    }


def test_exit_codes_are_defined_in_one_place():
    """errors.py is the one list; every other module imports its EXIT_* names from there."""
    import re

    from eg_harness import errors

    root = Path(__file__).resolve().parents[3]  # the clone: harness/ and fixtures/
    defines = re.compile(r"^\s*(EXIT_\w+\s*(,\s*EXIT_\w+\s*)*)=", re.MULTILINE)
    found = {
        str(f.relative_to(root))
        for folder in ("harness", "fixtures")
        for f in (root / folder).rglob("*.py")
        if defines.search(f.read_text())
    }
    assert found == {"harness/errors.py"}
    codes = {n: getattr(errors, n) for n in dir(errors) if n.startswith("EXIT_")}
    assert len(set(codes.values())) == len(codes)  # no two names for one code
    assert codes["EXIT_INCONCLUSIVE"] == 5 and codes["EXIT_INTERRUPTED"] == 130
    # The documented table in errors.py names every code.
    for name, code in codes.items():
        assert re.search(rf"^{code}\s+{name}\s", errors.__doc__, re.MULTILINE), name


def test_the_in_cluster_bench_job_uses_the_current_names():
    """The Job's args are an `eg-harness bench` command line: they parse, with today's names."""
    import yaml

    job = next(
        d
        for d in yaml.safe_load_all(
            (resources.CLUSTERS / "incluster" / "load-job.yaml").read_text()
        )
        if d and d["kind"] == "Job"
    )
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = parser().parse_args(args)
    assert parsed.workers == 4 and parsed.external_workers
    assert "--workers" not in args  # the deprecated spelling is not what the examples teach
