"""z2jh's chart as the user passes it (`--z2jh-chart`): checked, copied, admitted to the cluster.

z2jh 3.2.1 is on no registry reachable from this machine, so the harness never fetches it: the
user brings the directory or .tgz that `helm pull jupyterhub --repo
https://hub.jupyter.org/helm-chart/ --version 3.2.1` gives. Its Chart.yaml declares a
kubeVersion floor (z2jh 3.x requires Kubernetes 1.23) above the node cluster's v1.20.2, and helm
refuses a chart whose kubeVersion the cluster does not satisfy. So the chart is copied into the
run's state dir and the copy's floor lowered to the cluster's minor; the user's chart is never
written. Every such change is returned as a sentence for the run's report.

Only 3.2.1 is accepted: the values the harness lays over the seed's (harness/targets/node/
hubchart.py) and its hub image (JupyterHub 4.0.2 + KubeSpawner 6.2.0) are 3.2.1's, and another
release's hub config would fail inside the hub pod against that image, far from the option
that caused it.
"""

from __future__ import annotations

import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml
from eg_harness.audit import tools as audit_tools
from eg_harness.errors import ConfigError
from eg_harness.targets.spec import OPTIONS

CHART_NAME = "jupyterhub"
FLAG = next(opt.flag for opt in OPTIONS if opt.field == "z2jh_chart")  # declared in the spec
_KUBE_VERSION_LINE = re.compile(r"^(kubeVersion:[ \t]*)(.*?)[ \t]*$", re.MULTILINE)
_FLOOR = re.compile(r"^>=\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$")
_VERSION = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?")


def wanted_version() -> str:
    """The z2jh release the seed installs (clusters/audit/charts.json, the audit's pin)."""
    return audit_tools.pins()["jupyterhub"]["version"]


def pull_hint() -> str:
    pin = audit_tools.pins()["jupyterhub"]
    return f"get it with `helm pull {pin['chart']} --repo {pin['repo']} --version {pin['version']}`"


@dataclass(frozen=True)
class Chart:
    """A z2jh chart the user passed, as read from its Chart.yaml."""

    source: Path  # the user's directory or .tgz, never written
    version: str
    app_version: str
    kube_version: str | None  # Chart.yaml's constraint as written; None: the chart sets none


@dataclass(frozen=True)
class StagedChart:
    """The run's copy of the chart, the one helm installs, and what was changed in it."""

    chart: Chart
    path: Path  # the chart directory (Chart.yaml at its top)
    changes: tuple[str, ...]


def read_chart(given: str) -> Chart:
    """The chart at `given` (a directory or a .tgz), refused with a one-line ConfigError when
    it does not exist, is no chart, is not z2jh's, or is not the seed's release."""
    path = Path(given).expanduser()
    where = f"{FLAG} {given}"
    if not path.exists():
        raise ConfigError(f"{where}: no such file or directory; {pull_hint()}")
    text = _chart_yaml_text(path, where)
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{where}: its Chart.yaml is not YAML ({first}); {pull_hint()}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: its Chart.yaml is not a mapping; {pull_hint()}")
    name = doc.get("name")
    if name != CHART_NAME:
        raise ConfigError(
            f"{where}: chart {name!r} is not z2jh's (its Chart.yaml names {CHART_NAME!r}); "
            f"{pull_hint()}"
        )
    version = str(doc.get("version", ""))
    if version != wanted_version():
        raise ConfigError(
            f"{where}: z2jh {version or '(no version)'}, the node target installs z2jh "
            f"{wanted_version()} only (the seed's; its values and hub image are that "
            f"release's); {pull_hint()}"
        )
    kube = doc.get("kubeVersion")
    return Chart(
        source=path.resolve(),
        version=version,
        app_version=str(doc.get("appVersion", "")),
        kube_version=None if kube is None else str(kube),
    )


def _chart_yaml_text(path: Path, where: str) -> str:
    """Chart.yaml of a chart directory, or of the one chart at the top of a .tgz."""
    if path.is_dir():
        chart_yaml = path / "Chart.yaml"
        if not chart_yaml.is_file():
            raise ConfigError(
                f"{where}: not a chart (no Chart.yaml in the directory); {pull_hint()}"
            )
        return chart_yaml.read_text()
    if not tarfile.is_tarfile(path):
        raise ConfigError(f"{where}: not a chart directory or .tgz; {pull_hint()}")
    with tarfile.open(path) as tar:
        member = _top_chart_yaml(tar)
        if member is None:
            raise ConfigError(f"{where}: not a chart (no <name>/Chart.yaml in the archive)")
        fh = tar.extractfile(member)
        if fh is None:
            raise ConfigError(f"{where}: its Chart.yaml is not a regular file in the archive")
        return fh.read().decode("utf-8", errors="replace")


def _top_chart_yaml(tar: tarfile.TarFile) -> tarfile.TarInfo | None:
    """The archive's `<dir>/Chart.yaml` (helm's layout); a subchart's (deeper) is not it."""
    for member in tar.getmembers():
        parts = member.name.strip("/").split("/")
        if len(parts) == 2 and parts[1] == "Chart.yaml" and member.isfile():
            return member
    return None


def version_tuple(text: str) -> tuple[int, int, int]:
    """'v1.20.2' (or '1.20', or '1.20.5+really1.20.2') as (1, 20, 2)."""
    match = _VERSION.match(text.strip())
    if match is None:
        raise ValueError(f"not a Kubernetes version: {text!r}")
    major, minor, patch = match.groups()
    return int(major), int(minor), int(patch or 0)


def admit_kube_version(text: str, cluster: str) -> tuple[str, str | None]:
    """Chart.yaml's `text` with its kubeVersion lowered to admit Kubernetes `cluster` (e.g.
    'v1.20.2'), and the change in words; None when the chart already admits it (a `>=` floor at
    or below the cluster) or sets no kubeVersion. A constraint other than one `>=` floor is
    replaced too: the harness does not evaluate semver ranges, and says what it replaced. Only
    the value on the kubeVersion line changes; comments and the other lines stay as written."""
    match = _KUBE_VERSION_LINE.search(text)
    if match is None:
        return text, None
    old = match.group(2).strip().strip("'\"")
    have = version_tuple(cluster)
    floor = _FLOOR.match(old)
    if floor is not None:
        need = tuple(int(p or 0) for p in floor.groups())
        if need <= have:
            return text, None
    new = f">={have[0]}.{have[1]}.0-0"
    patched = text[: match.start(2)] + f'"{new}"' + text[match.end(2) :]
    why = (
        "below the chart's floor, which helm enforces"
        if floor is not None
        else "a constraint the harness does not evaluate"
    )
    return patched, f"kubeVersion {old!r} -> {new!r} (the cluster is {cluster}: {why})"


def stage_chart(chart: Chart, dest: Path, cluster_version: str) -> StagedChart:
    """Copy `chart` to `dest`/jupyterhub (replacing an earlier copy) and admit the cluster in
    the copy's Chart.yaml. Returns the copy and its changes, each a sentence for the report."""
    dest.mkdir(parents=True, exist_ok=True)
    target = dest / CHART_NAME
    if target.exists():
        shutil.rmtree(target)
    if chart.source.is_dir():
        shutil.copytree(chart.source, target, symlinks=True)
    else:
        tmp = Path(tempfile.mkdtemp(prefix=".z2jh-", dir=dest))
        try:
            with tarfile.open(chart.source) as tar:
                member = _top_chart_yaml(tar)
                assert member is not None  # read_chart checked it
                top = member.name.strip("/").split("/")[0]
                tar.extractall(tmp, filter="data")
            (tmp / top).rename(target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    chart_yaml = target / "Chart.yaml"
    patched, change = admit_kube_version(chart_yaml.read_text(), cluster_version)
    changes: list[str] = []
    if change is not None:
        chart_yaml.write_text(patched)
        changes.append(
            f"z2jh {chart.version}'s Chart.yaml in the run's copy ({target}): {change}; the "
            f"chart passed with {FLAG} is unchanged"
        )
    return StagedChart(chart, target, tuple(changes))
