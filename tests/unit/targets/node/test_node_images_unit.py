"""The node target's images, as far as they are pure: the base's content tag and the commands
it gives mmdebstrap and podman, the kind contexts staged for node (base and install options
as build arguments, wheels in the context, only the images node builds), and the build argv.

The EG sdist is replaced by a folder with its layout, as in test_kind_plan.py; the real
builds run in tests/selftest/test_node_images.py.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from eg_harness.targets.kind import images as kind_images
from eg_harness.targets.kind.egdist import EgDist
from eg_harness.targets.kind.pins import IMAGES_DIR
from eg_harness.targets.node import images as node_images

BASE_REF = "localhost/eg-harness/debian-base:0123456789abcdef"
NODE_ARGS = {"BASE_IMAGE": BASE_REF, "PIP_INSTALL_OPTIONS": node_images.PIP_INSTALL_OPTIONS}


@pytest.fixture
def eg_dist(fake_eg_dist) -> EgDist:
    return fake_eg_dist(["etc/docker/enterprise-gateway/start-enterprise-gateway.sh"])


def _wheelhouse(tmp_path: Path, marker: str = "1.0"):
    """A stand-in for the host's pip download: one wheel per requirements file."""

    def wheels(requirements: Path) -> Path:
        out = tmp_path / "wheels" / requirements.parent.name / marker
        out.mkdir(parents=True, exist_ok=True)
        (out / f"demo-{marker}-py3-none-any.whl").write_bytes(marker.encode())
        return out

    return wheels


def _stage_node(eg_dist, tmp_path, root="node", marker="1.0", args=None):
    return kind_images.stage_all(
        eg_dist,
        tmp_path / root,
        provider="node",
        provider_args=args or NODE_ARGS,
        wheelhouse=_wheelhouse(tmp_path, marker),
    )


def test_the_base_tag_is_the_hash_of_what_mmdebstrap_and_import_are_given():
    base = node_images.BaseSpec()
    assert base.digest == node_images.BaseSpec().digest
    assert re.fullmatch(r"localhost/eg-harness/debian-base:[0-9a-f]{16}", base.ref)
    for changed in (
        replace(base, packages=(*base.packages, "tini")),
        replace(base, suite="trixie"),
        replace(base, mirrors=base.mirrors[:1]),
        replace(base, hooks=base.hooks[:1]),
        replace(base, changes=base.changes[1:]),
    ):
        assert changed.tag != base.tag


def test_the_base_is_bookworm_minbase_with_python_a_venv_on_the_path_and_jovyan(tmp_path):
    base = node_images.BASE
    argv = base.mmdebstrap_argv(tmp_path / "base.tar")
    assert argv[0] == "mmdebstrap" and "--variant=minbase" in argv
    include = next(a for a in argv if a.startswith("--include="))
    for pkg in ("python3", "python3-venv", "python3-pip", "ca-certificates", "procps"):
        assert pkg in include.removeprefix("--include=").split(",")
    assert argv[-len(base.mirrors) - 2 :][:2] == ["bookworm", str(tmp_path / "base.tar")]
    hooks = " ".join(a for a in argv if a.startswith("--customize-hook="))
    assert "--uid 1000 --gid 100" in hooks and f"venv {node_images.VENV}" in hooks
    imported = base.import_argv(tmp_path / "base.tar")
    assert imported[:2] == ["podman", "import"] and imported[-1] == base.ref
    changes = [imported[i + 1] for i, a in enumerate(imported) if a == "--change"]
    assert f"ENV PATH={node_images.IMAGE_PATH}" in changes and "USER jovyan" in changes
    assert node_images.IMAGE_PATH.split(":")[0] == f"{node_images.VENV}/bin"
    assert "/usr/bin" in node_images.IMAGE_PATH.split(":")


def test_dockerfile_args_are_read_and_only_those_before_from_set_the_base():
    text = "# c\nARG BASE_IMAGE=busybox\nFROM ${BASE_IMAGE}\nARG PIP_INSTALL_OPTIONS=\nRUN x\n"
    assert kind_images.declared_args(text) == {"BASE_IMAGE", "PIP_INSTALL_OPTIONS"}
    assert kind_images.base_args(text) == {"BASE_IMAGE"}
    assert kind_images.base_args("FROM busybox\nARG BASE_IMAGE\n") == set()


def test_node_stages_its_images_on_the_debian_base_and_kind_keeps_the_seeds(tmp_path, eg_dist):
    node = {i.name: i for i in _stage_node(eg_dist, tmp_path)}
    kind = {i.name: i for i in kind_images.stage_all(eg_dist, tmp_path / "kind")}
    assert list(node) == ["kernel-py", "kernelspecs", "enterprise-gateway"]
    assert list(kind) == ["kernel-py", "kernel-spark-py", "kernelspecs", "singleuser"]
    for name in ("kernel-py", "enterprise-gateway"):
        assert node[name].build_args == NODE_ARGS
    assert node["kernelspecs"].build_args == {"BASE_IMAGE": BASE_REF}
    # kind passes nothing for the base: the Dockerfiles' defaults are the seed's images
    assert kind["kernel-py"].build_args == {} and kind["kernelspecs"].build_args == {}
    assert kind["kernel-spark-py"].build_args == {"BASE_IMAGE": kind["kernel-py"].ref}
    for name in ("kernel-py", "kernelspecs"):
        assert node[name].tag != kind[name].tag
        text = (kind[name].context / "Dockerfile").read_text()
        default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.M).group(1)
        assert default in ("jupyter/minimal-notebook:2023-03-13", "busybox:1.36.1")
    assert not list((kind["kernel-py"].context / "wheels").glob("*.whl"))
    assert [p.name for p in (node["kernel-py"].context / "wheels").glob("*.whl")] == [
        "demo-1.0-py3-none-any.whl"
    ]
    assert (node["enterprise-gateway"].context / "eg/start-enterprise-gateway.sh").is_file()


def test_node_kernelspecs_name_the_node_kernel_image_and_keep_egs_for_unbuilt_ones(
    tmp_path, eg_dist, upstream_kernelspecs
):
    node = {i.name: i for i in _stage_node(eg_dist, tmp_path)}
    kernels = node["kernelspecs"].context / "kernels"
    py = json.loads((kernels / "python_kubernetes/kernel.json").read_text())
    assert py["metadata"]["process_proxy"]["config"]["image_name"] == node["kernel-py"].ref
    spark = json.loads((kernels / "spark_python_kubernetes/kernel.json").read_text())
    upstream = upstream_kernelspecs["spark_python_kubernetes"]
    assert spark["metadata"]["process_proxy"]["config"] == upstream


def test_wheels_and_the_base_are_part_of_the_tag(tmp_path, eg_dist):
    first = {i.name: i.ref for i in _stage_node(eg_dist, tmp_path, "a")}
    again = {i.name: i.ref for i in _stage_node(eg_dist, tmp_path, "b")}
    assert first == again
    new_wheels = {i.name: i.ref for i in _stage_node(eg_dist, tmp_path, "c", marker="2.0")}
    assert new_wheels["kernel-py"] != first["kernel-py"]
    assert new_wheels["kernelspecs"] != first["kernelspecs"]  # it names kernel-py's tag
    other_base = dict(NODE_ARGS, BASE_IMAGE="localhost/eg-harness/debian-base:fedcba9876543210")
    rebased = {i.name: i.ref for i in _stage_node(eg_dist, tmp_path, "d", args=other_base)}
    assert all(rebased[name] != first[name] for name in first)


def test_every_node_dockerfile_takes_the_base_and_installs_without_network():
    for name, spec in kind_images.manifest().items():
        text = (IMAGES_DIR / name / "Dockerfile").read_text()
        if "node" not in kind_images.providers_of(spec):
            continue
        assert "BASE_IMAGE" in kind_images.base_args(text), name
        assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.M), name
        if spec.get("wheels"):
            assert (IMAGES_DIR / name / spec["wheels"]).is_file()
            assert f"COPY --chown=1000:100 wheels/ {node_images.WHEELS_IN_IMAGE}/" in text
            assert "pip install --no-cache-dir ${PIP_INSTALL_OPTIONS} -r" in text
            assert "PIP_INSTALL_OPTIONS" in kind_images.declared_args(text)


def test_the_gateway_image_runs_egs_start_script_as_jovyan():
    spec = kind_images.manifest()["enterprise-gateway"]
    assert kind_images.providers_of(spec) == ("node",)
    script = "start-enterprise-gateway.sh"
    assert spec["eg_files"] == {f"etc/docker/enterprise-gateway/{script}": f"eg/{script}"}
    text = (IMAGES_DIR / "enterprise-gateway" / "Dockerfile").read_text()
    assert 'CMD ["/usr/local/bin/start-enterprise-gateway.sh"]' in text
    assert text.rstrip().splitlines()[-1].startswith("CMD")
    assert re.findall(r"^USER (\S+)$", text, re.M)[-1] == "jovyan"
    reqs = (IMAGES_DIR / "enterprise-gateway" / "requirements.txt").read_text()
    lock = node_images.CONSTRAINTS.read_text()
    pinned = re.search(r"^jupyter_enterprise_gateway==(\S+)$", reqs, re.M).group(1)
    assert f"jupyter-enterprise-gateway=={pinned}" in lock


def test_build_argv_has_no_network_the_limits_both_names_and_no_latest(tmp_path, eg_dist):
    node = {i.name: i for i in _stage_node(eg_dist, tmp_path)}
    image = node["kernel-py"]
    argv = node_images.build_argv(image)
    text = " ".join(argv)
    assert argv[:2] == ["podman", "build"] and argv[-1] == str(image.context)
    assert "--network none" in text and ":latest" not in text
    assert "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024" in text
    tags = [argv[i + 1] for i, a in enumerate(argv) if a == "--tag"]
    assert tags == [f"localhost/{image.ref}", f"docker.io/{image.ref}"]
    assert node_images.cri_ref(image) == f"docker.io/{image.ref}"
    assert f"BASE_IMAGE={BASE_REF}" in argv
    assert f"PIP_INSTALL_OPTIONS={node_images.PIP_INSTALL_OPTIONS}" in argv


def test_an_image_is_built_after_the_images_it_is_built_from(tmp_path):
    def img(name, **args):
        return kind_images.Image(name, name, tmp_path, name * 8, args)

    a = img("aaaa")
    b = img("bbbb", BASE_IMAGE=a.ref)
    c = img("cccc")
    order = [a, b, c]
    assert [i.name for i in node_images._with_dependencies(["bbbb"], order)] == ["aaaa", "bbbb"]
    assert [i.name for i in node_images._with_dependencies(["cccc"], order)] == ["cccc"]


def test_wheels_are_cached_by_requirements_constraints_and_target(tmp_path):
    req = tmp_path / "requirements.txt"
    req.write_text("ipykernel==6.29.5\n")
    lock = tmp_path / "gateway.lock"
    lock.write_text("pyzmq==24.0.1\n")
    key = node_images.wheels_key(req, lock)
    assert key == node_images.wheels_key(req, lock)
    lock.write_text("pyzmq==25.0.0\n")
    new_lock = node_images.wheels_key(req, lock)
    assert new_lock != key
    req.write_text("ipykernel==6.29.4\n")
    assert node_images.wheels_key(req, lock) not in (key, new_lock)


def test_archives_are_named_by_image_and_tag(tmp_path, monkeypatch):
    monkeypatch.setenv("EG_HARNESS_CACHE", str(tmp_path))
    image = kind_images.Image("kernel-py", "k", tmp_path, "ab" * 32)
    path = node_images.archive_path(image)
    assert path == tmp_path / "node" / "archives" / f"kernel-py-{'ab' * 8}.tar"
