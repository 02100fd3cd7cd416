"""The kind target as far as it runs without a Docker engine: its CLI, its image contexts from
the real EG sdist, and its executor on real commands. (The cluster path itself needs Docker,
kind and helm and is not run here: docs/targets.md says so.) About 10 s warm; the first run also
fetches the EG sdist (cached).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from dockerfile_parse import DockerfileParser
from eg_harness.targets.kind import state
from eg_harness.targets.kind.egdist import ensure_eg_dist
from eg_harness.targets.kind.executor import Executor, StepFailed
from eg_harness.targets.kind.images import stage_all
from eg_harness.targets.kind.pins import EG_VALUES, load_pins
from eg_harness.targets.kind.plan import Plan, Step, Undo
from eg_harness.targets.kind.target import make_plan
from jupyter_client.kernelspec import KernelSpec
from selftest_tools import REPO, harness_cmd

# a module-scoped fixture, made once on one worker
pytestmark = pytest.mark.xdist_group("kind")


def _cli(args, tmp_path, **env):
    full = {**os.environ, "EG_HARNESS_REPORTS": str(tmp_path / "reports"), **env}
    t0 = time.monotonic()
    proc = subprocess.run(
        [*harness_cmd(), *args], cwd=REPO, capture_output=True, text=True, env=full, timeout=300
    )
    return proc, time.monotonic() - t0


def test_preflight_names_each_missing_piece_and_exits_3_before_creating_anything(tmp_path):
    before = set(state.state_dir().glob("*.json"))
    proc, seconds = _cli(
        ["run", "--target", "kind", "--suite", "auth"],
        tmp_path,
        # An engine nobody runs, and kind/helm pointed at nothing: the same on every machine.
        DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock",
        EG_HARNESS_KIND=str(tmp_path / "no-kind"),
        EG_HARNESS_HELM=str(tmp_path / "no-helm"),
    )
    assert proc.returncode == 3, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert any(ln.strip().startswith("- kind not found: install kind") for ln in lines)
    assert any(ln.strip().startswith("- helm not found: install helm 3.5") for ln in lines)
    docker = [ln for ln in lines if "docker" in ln.lower() and ln.strip().startswith("- ")]
    assert docker and ("engine not reachable" in docker[0] or "docker not found" in docker[0])
    assert "nothing was created" in proc.stderr
    assert not (tmp_path / "reports").exists(), "preflight must fail before pytest starts"
    assert set(state.state_dir().glob("*.json")) == before
    print(f"preflight exit 3 after {seconds:.1f}s (CLI start included)")


def test_dry_run_prints_the_whole_plan_and_runs_nothing(tmp_path):
    proc, _ = _cli(["run", "--target", "kind", "--dry-run", "--run-id", "dry-1"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for command in (
        "kind create cluster",
        "docker build",
        "kind load docker-image",
        "helm upgrade --install",
        "kubectl",
        "rollout status",
        "kind delete cluster",
    ):
        assert command in out, command
    assert ":latest" not in out
    assert "authToken: [REDACTED]" in out
    # The deployment's values file is printed whole, and the overlay parses back as YAML.
    for line in EG_VALUES.read_text().splitlines():
        assert line in out
    overlay = [
        ln.split("| ", 1)[1]
        for ln in out.split("write the gateway overlay")[1].split("creates:")[0].splitlines()
        if "| " in ln
    ]
    assert yaml.safe_load("\n".join(overlay))["kernelspecs"]["image"].startswith(
        "eg-harness/kernelspecs:"
    )
    assert not (load_pins() and (Path.home() / ".cache/eg-harness/kind/work/dry-1").exists())
    assert not (tmp_path / "reports").exists()


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    eg = ensure_eg_dist(lambda _m: None)
    return {i.name: i for i in stage_all(eg, tmp_path_factory.mktemp("contexts"))}


def test_every_dockerfile_copies_only_what_its_context_has(staged):
    for image in staged.values():
        parser = DockerfileParser(path=str(image.context / "Dockerfile"))
        froms = [i["value"] for i in parser.structure if i["instruction"] == "FROM"]
        assert froms, image.name
        for base in froms:
            ref = base.split()[0]
            assert ref.startswith("${") or (":" in ref and not ref.endswith(":latest")), ref
        for instr in parser.structure:
            if instr["instruction"] not in ("COPY", "ADD"):
                continue
            words = [w for w in instr["value"].split() if not w.startswith("--")]
            for src in words[:-1]:
                assert (image.context / src).exists(), f"{image.name}: COPY {src} is missing"
        for arg in image.build_args:
            assert f"ARG {arg}" in (image.context / "Dockerfile").read_text()


def test_kernelspecs_image_holds_egs_real_kubernetes_kernelspecs(staged):
    kernels = staged["kernelspecs"].context / "kernels"
    assert sorted(p.name for p in kernels.iterdir()) == [
        "python_kubernetes",
        "spark_python_kubernetes",
    ]
    for spec_dir in kernels.iterdir():
        spec = KernelSpec.from_resource_dir(str(spec_dir))  # jupyter_client's own reader
        proxy = spec.metadata["process_proxy"]
        assert proxy["class_name"].endswith("k8s.KubernetesProcessProxy")
        images = {k: v for k, v in proxy["config"].items() if k.endswith("image_name")}
        assert images and all(v in {i.ref for i in staged.values()} for v in images.values())
        # argv paths are where the chart's init container puts /kernels.
        for word in spec.argv:
            if word.startswith("/usr/local/share/jupyter/kernels/"):
                inside = kernels / word.removeprefix("/usr/local/share/jupyter/kernels/")
                assert inside.exists(), word
                if inside.suffix == ".sh":
                    assert inside.stat().st_mode & stat.S_IXUSR, f"{word} is not executable"
        assert (spec_dir / "scripts" / "kernel-pod.yaml.j2").exists()
    launcher = staged["kernel-py"].context / "eg/kernel-launchers/python/scripts"
    assert (launcher / "launch_ipykernel.py").exists()


def test_the_plan_uses_the_real_chart_of_the_pinned_release():
    plan = make_plan("selftest-chart", progress=lambda _m: None)
    install = next(
        s
        for s in plan.steps
        if s.argv[1:3] == ("upgrade", "--install")
        and plan.releases
        and load_pins().eg["release"] in s.argv
    )
    chart = Path(install.argv[4])
    meta = yaml.safe_load((chart / "Chart.yaml").read_text())
    assert meta["name"] == "enterprise-gateway" and meta["version"] == load_pins().eg["version"]


def _mini_plan(tmp_path: Path, steps: list[Step]) -> Plan:
    from eg_harness.targets.kind.plan import KindSettings

    s = KindSettings("selftest-exec", tmp_path / "run", "c", False, False, "t" * 10, "u" * 10, 1, 2)
    return Plan(s, steps, [], {}, [], "", "", [], {})


def test_executor_undoes_in_reverse_after_a_failure_and_bounds_every_step(tmp_path):
    log = tmp_path / "order.txt"

    def made(name: str) -> Step:
        return Step(
            "p",
            f"make {name}",
            argv=("sh", "-c", f"echo make-{name} >> {log}"),
            timeout=10,
            creates=name,
            undo=Undo(("sh", "-c", f"echo undo-{name} >> {log}"), 10, inside_cluster=False),
        )

    steps = [
        Step(
            "files",
            "write",
            kind="write",
            path=tmp_path / "run" / "f.yaml",
            content="a: 1\n",
            mode=0o600,
            creates="file",
            undo=Undo((), 5, inside_cluster=False),
        ),
        made("a"),
        made("b"),
        Step("p", "hang", argv=("sleep", "30"), timeout=1.0),
    ]
    executor = Executor(_mini_plan(tmp_path, steps), progress=lambda _m: None)
    t0 = time.monotonic()
    with pytest.raises(StepFailed, match="p: hang failed: timed out after 1s"):
        executor.run()
    assert time.monotonic() - t0 < 15, "the bound did not stop the step"
    assert oct((tmp_path / "run" / "f.yaml").stat().st_mode & 0o777) == "0o600"
    assert executor.undo_all() == []
    assert log.read_text().split() == ["make-a", "make-b", "undo-b", "undo-a"]
    assert not (tmp_path / "run" / "f.yaml").exists()


def test_executor_names_the_failing_step_and_its_last_words(tmp_path):
    steps = [
        Step(
            "helm x",
            "install x",
            argv=("sh", "-c", "echo 'Error: no such chart' >&2; exit 7"),
            timeout=10,
        )
    ]
    executor = Executor(_mini_plan(tmp_path, steps), progress=lambda _m: None)
    with pytest.raises(StepFailed) as info:
        executor.run()
    assert "helm x: install x failed: exit 7: Error: no such chart" in str(info.value)
    assert info.value.exit_code == 3


def test_kernel_json_written_back_keeps_egs_shape(staged):
    eg = ensure_eg_dist(lambda _m: None)
    for name in ("python_kubernetes", "spark_python_kubernetes"):
        original = json.loads(eg.path(f"etc/kernelspecs/{name}/kernel.json").read_text())
        ours = json.loads(
            (staged["kernelspecs"].context / "kernels" / name / "kernel.json").read_text()
        )
        original["metadata"]["process_proxy"]["config"] = {}
        ours["metadata"]["process_proxy"]["config"] = {}
        assert ours == original, f"{name}: only the image names may differ from EG's"
