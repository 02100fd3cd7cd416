"""--z2jh-chart, the harness's side: the chart checked, copied and admitted to the node cluster.

The charts here are a minimal Chart.yaml written by each test (no z2jh content): they test the
harness's validation and its kubeVersion patch, never an install.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest
import yaml
from eg_harness.errors import EXIT_USAGE, ConfigError
from eg_harness.targets.node import kept, z2jhchart
from eg_harness.targets.node.target import NodeTarget
from eg_harness.targets.spec import TargetSpec

CLUSTER = "v1.20.2"
CHART_YAML = """\
# a comment the patch must keep
apiVersion: v2
name: {name}
version: {version}
appVersion: "4.0.2"
kubeVersion: "{kube}"
description: Multi-user Jupyter installation
"""


def _chart_dir(root: Path, name="jupyterhub", version="3.2.1", kube=">=1.23.0-0") -> Path:
    chart = root / name
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text(CHART_YAML.format(name=name, version=version, kube=kube))
    (chart / "templates" / "x.yaml").write_text("kind: ConfigMap\n")
    return chart


def _tgz(chart: Path, dest: Path) -> Path:
    with tarfile.open(dest, "w:gz") as tar:
        tar.add(chart, arcname=chart.name)
    return dest


# --- the kubeVersion patch --------------------------------------------------------------------


def test_the_floor_above_the_cluster_is_lowered_to_its_minor_and_nothing_else_changes():
    text = CHART_YAML.format(name="jupyterhub", version="3.2.1", kube=">=1.23.0-0")
    patched, change = z2jhchart.admit_kube_version(text, CLUSTER)
    assert yaml.safe_load(patched)["kubeVersion"] == ">=1.20.0-0"
    assert change == "kubeVersion '>=1.23.0-0' -> '>=1.20.0-0' (the cluster is v1.20.2: below " + (
        "the chart's floor, which helm enforces)"
    )
    before = [line for line in text.splitlines() if not line.startswith("kubeVersion")]
    after = [line for line in patched.splitlines() if not line.startswith("kubeVersion")]
    assert after == before  # the comment and every other line as written


@pytest.mark.parametrize("kube", [">=1.20.0-0", ">=1.19", ">= v1.20.2"])
def test_a_floor_the_cluster_meets_is_left_alone(kube):
    text = CHART_YAML.format(name="jupyterhub", version="3.2.1", kube=kube)
    assert z2jhchart.admit_kube_version(text, CLUSTER) == (text, None)


def test_a_floor_one_patch_release_above_the_cluster_is_lowered():
    text = CHART_YAML.format(name="jupyterhub", version="3.2.1", kube=">=1.20.3")
    patched, change = z2jhchart.admit_kube_version(text, CLUSTER)
    assert change is not None and yaml.safe_load(patched)["kubeVersion"] == ">=1.20.0-0"


def test_a_range_the_harness_does_not_evaluate_is_replaced_and_says_so():
    text = CHART_YAML.format(name="jupyterhub", version="3.2.1", kube=">=1.23.0-0 <1.30.0-0")
    patched, change = z2jhchart.admit_kube_version(text, CLUSTER)
    assert yaml.safe_load(patched)["kubeVersion"] == ">=1.20.0-0"
    assert change is not None and "a constraint the harness does not evaluate" in change


def test_a_chart_without_kube_version_is_left_alone():
    text = "apiVersion: v2\nname: jupyterhub\nversion: 3.2.1\n"
    assert z2jhchart.admit_kube_version(text, CLUSTER) == (text, None)


# --- staging: the run's copy, the user's chart untouched -----------------------------------------


@pytest.mark.parametrize("packed", [False, True])
def test_the_copy_is_patched_and_the_users_chart_is_not(tmp_path, packed):
    source = _chart_dir(tmp_path / "given")
    original = (source / "Chart.yaml").read_text()
    given = _tgz(source, tmp_path / "jupyterhub-3.2.1.tgz") if packed else source
    chart = z2jhchart.read_chart(str(given))
    assert (chart.version, chart.app_version, chart.kube_version) == (
        "3.2.1",
        "4.0.2",
        ">=1.23.0-0",
    )
    staged = z2jhchart.stage_chart(chart, tmp_path / "state", CLUSTER)
    assert staged.path == tmp_path / "state" / "jupyterhub"
    assert yaml.safe_load((staged.path / "Chart.yaml").read_text())["kubeVersion"] == ">=1.20.0-0"
    assert (staged.path / "templates" / "x.yaml").read_text() == "kind: ConfigMap\n"
    assert (source / "Chart.yaml").read_text() == original
    [change] = staged.changes
    assert "kubeVersion '>=1.23.0-0' -> '>=1.20.0-0'" in change and str(staged.path) in change
    # a second bring-up in the same state dir replaces the copy
    again = z2jhchart.stage_chart(chart, tmp_path / "state", CLUSTER)
    assert again.changes == staged.changes


def test_a_chart_that_admits_the_cluster_is_copied_with_no_change_to_report(tmp_path):
    chart = z2jhchart.read_chart(str(_chart_dir(tmp_path / "given", kube=">=1.20.0-0")))
    assert z2jhchart.stage_chart(chart, tmp_path / "state", CLUSTER).changes == ()


# --- validation: one line, exit 2 ----------------------------------------------------------------


def _refused(given: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        z2jhchart.read_chart(given)
    assert "\n" not in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_a_missing_path_is_refused_with_the_pull_command(tmp_path):
    _refused(
        str(tmp_path / "nope.tgz"),
        r"^--z2jh-chart .*nope\.tgz: no such file or directory; get it with `helm pull "
        r"jupyterhub --repo https://hub\.jupyter\.org/helm-chart/ --version 3\.2\.1`$",
    )


def test_a_directory_without_chart_yaml_is_not_a_chart(tmp_path):
    _refused(str(tmp_path), r"not a chart \(no Chart\.yaml in the directory\)")


def test_a_file_that_is_no_archive_is_not_a_chart(tmp_path):
    bogus = tmp_path / "jupyterhub-3.2.1.tgz"
    bogus.write_text("not a tarball")
    _refused(str(bogus), r"not a chart directory or \.tgz")


def test_an_archive_without_a_top_chart_yaml_is_not_a_chart(tmp_path):
    other = tmp_path / "stuff"
    other.mkdir()
    (other / "README").write_text("x")
    _refused(str(_tgz(other, tmp_path / "stuff.tgz")), r"no <name>/Chart\.yaml in the archive")


def test_another_chart_is_not_z2jh(tmp_path):
    chart = _chart_dir(tmp_path, name="binderhub")
    _refused(str(chart), r"chart 'binderhub' is not z2jh's")


@pytest.mark.parametrize("version", ["4.0.0", "3.2.0"])
def test_another_z2jh_release_is_refused(tmp_path, version):
    chart = _chart_dir(tmp_path, version=version)
    _refused(str(chart), rf"z2jh {version}, the node target installs z2jh 3\.2\.1 only")


def test_chart_yaml_that_is_not_yaml_is_refused(tmp_path):
    chart = tmp_path / "jupyterhub"
    chart.mkdir()
    (chart / "Chart.yaml").write_text("name: [unclosed\n")
    _refused(str(chart), r"its Chart\.yaml is not YAML")


def test_the_node_target_refuses_a_bad_chart_before_building_anything(tmp_path):
    with pytest.raises(ConfigError, match="no such file or directory"):
        NodeTarget(run_id="r-z2jh", z2jh_chart=str(tmp_path / "missing"))
    target = NodeTarget(run_id="r-z2jh", z2jh_chart=str(_chart_dir(tmp_path)))
    assert target.z2jh_chart is not None and target.z2jh_chart.version == "3.2.1"
    assert NodeTarget(run_id="r-plain").z2jh_chart is None


def test_the_option_is_declared_once_and_reaches_the_node_provider(tmp_path):
    chart = str(_chart_dir(tmp_path))
    spec = TargetSpec(kind="node", z2jh_chart=chart)
    assert spec.to_args() == ["--target", "node", "--z2jh-chart", chart]
    assert spec.provider_options()["z2jh_chart"] == chart
    with pytest.raises(ConfigError, match=r"^--z2jh-chart is for --target node"):
        TargetSpec(kind="local", z2jh_chart=chart)


def test_a_run_asking_for_another_hub_than_the_kept_cluster_has_is_refused(tmp_path, monkeypatch):
    """A kept cluster's hub is the one `up` installed: a run passing a chart the keeper did not
    (or none where the keeper did) would test another hub than it asked for."""
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path / "cache"))
    chart = _chart_dir(tmp_path / "given")
    doc = {"run_id": "keeper", "state_dir": "/nowhere", "chart_dir": "/c", "handoff": {}}
    kept.write({**doc, "z2jh_chart": None})
    with pytest.raises(ConfigError, match=r"has its hub from hub\.py's Deployment, no chart; "):
        NodeTarget(run_id="mine", z2jh_chart=str(chart)).provision(lambda _m: None)
    kept.write({**doc, "z2jh_chart": str(chart.resolve())})
    with pytest.raises(ConfigError, match=r"this run asks for no --z2jh-chart: pass the same"):
        NodeTarget(run_id="mine").provision(lambda _m: None)
