"""The node target's images, built for real with mmdebstrap and podman and checked without a
cluster: each image is run with `--network none` and made to show what the cluster will ask of
it. The kernel image must run EG's launcher with python found on the PATH the chart passes
down from the gateway image (EG_INHERITED_ENVS=PATH), and its negative twin shows that the
same check fails on the PATH of EG's upstream image, where this base has no `python`. The
archive for containerd is imported into a private containerd of the test's own.

Cold about 2.5 minutes (mmdebstrap ~60 s, builds ~50 s, needs Debian's mirror and PyPI);
warm about 30 s. Needs root, podman and mmdebstrap; skipped with the reason otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from eg_harness.errors import TargetUnavailable
from eg_harness.runtime.waits import wait_for
from eg_harness.targets.kind.egdist import ensure_eg_dist
from eg_harness.targets.kind.images import Image
from eg_harness.targets.node import images as node_images

MISSING = [tool for tool in ("podman", "mmdebstrap") if shutil.which(tool) is None]
pytestmark = [
    pytest.mark.skipif(
        os.geteuid() != 0, reason="node images need root (podman's store, mmdebstrap)"
    ),
    pytest.mark.skipif(
        bool(MISSING), reason=f"not installed: {', '.join(MISSING)} (apt-get install)"
    ),
    pytest.mark.xdist_group("node-images"),  # one builder: the module fixture runs once
]

NAMES = ["kernel-py", "kernelspecs", "enterprise-gateway"]
# EG 3.3.0's upstream gateway image's PATH (jupyter/minimal-notebook): on the Debian base
# there is no python on it, which is the trap the PATH check must catch.
UPSTREAM_EG_PATH = "/opt/conda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
RUN = (
    "podman",
    "run",
    "--rm",
    "--network",
    "none",
    "--health-cmd",
    "none",
    *node_images.PODMAN_LIMITS,
)


@pytest.fixture(scope="module")
def built():
    lines: list[str] = []
    eg = ensure_eg_dist(lines.append)
    images = node_images.build_node_images(NAMES, eg, lines.append)
    return {i.name: i for i in images}, eg


def _run(image, *argv: str, env: dict[str, str] | None = None, timeout: float = 120):
    args = [*RUN]
    for key, value in (env or {}).items():
        args += ["--env", f"{key}={value}"]
    return subprocess.run(
        [*args, node_images.cri_ref(image), *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _config(image) -> dict:
    out = subprocess.run(
        ["podman", "image", "inspect", node_images.cri_ref(image)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(out.stdout)[0]["Config"]


def _env_of(image) -> dict[str, str]:
    return dict(item.split("=", 1) for item in _config(image).get("Env", []))


def test_a_warm_build_reuses_every_image_and_tags_by_content(built):
    images, eg = built
    lines: list[str] = []
    started = time.monotonic()
    again = node_images.build_node_images(NAMES, eg, lines.append)
    assert [i.ref for i in again] == [images[n].ref for n in NAMES]
    assert not [line for line in lines if line.startswith("building")], lines
    assert time.monotonic() - started < 60
    for image in again:
        assert ":latest" not in image.ref
        labels = _config(image).get("Labels") or {}
        assert labels.get("eg-harness.content-hash") == image.digest


def test_the_gateway_and_kernel_images_have_one_path_with_the_venv_first(built):
    images, _ = built
    gateway = _env_of(images["enterprise-gateway"])["PATH"]
    kernel = _env_of(images["kernel-py"])["PATH"]
    assert gateway == kernel == node_images.IMAGE_PATH


def _bootstrap(kernel_image, path: str):
    """bootstrap-kernel.sh as a kernel pod runs it: the image's command, the gateway's PATH,
    a response address nobody listens on (the launcher must get as far as calling back)."""
    env = {
        "PATH": path,
        "KERNEL_ID": str(uuid.uuid4()),
        "RESPONSE_ADDRESS": "127.0.0.1:9",
        "PUBLIC_KEY": "not-a-key",
        "PORT_RANGE": "0..0",
    }
    return _run(kernel_image, env=env)


def test_the_kernel_image_runs_egs_launcher_on_the_gateways_path(built):
    images, _ = built
    gateway_path = _env_of(images["enterprise-gateway"])["PATH"]
    proc = _bootstrap(images["kernel-py"], gateway_path)
    out = proc.stdout + proc.stderr
    assert "command not found" not in out, out[-2000:]
    assert "launch_ipykernel.py --kernel-id" in out, out[-2000:]
    assert "Using connection file" in out, out[-2000:]  # the launcher made its kernel's ports
    assert "ConnectionRefusedError" in out, out[-2000:]  # ... and called the response address


def test_negative_twin_the_same_check_fails_on_egs_upstream_path(built):
    images, _ = built
    proc = _bootstrap(images["kernel-py"], UPSTREAM_EG_PATH)
    out = proc.stdout + proc.stderr
    assert "python: command not found" in out, out[-2000:]
    assert "Using connection file" not in out
    # bootstrap-kernel.sh exits 0 all the same: why EG only sees it at its launch timeout
    assert proc.returncode == 0


def test_the_kernel_image_has_the_launchers_packages_jovyan_and_its_command(built):
    images, _ = built
    kernel = images["kernel-py"]
    code = (
        "import ipykernel, jupyter_client, Cryptodome, os, sys; "
        "print(ipykernel.__version__, jupyter_client.__version__, os.getuid(), os.getgid(), "
        "os.environ['KERNEL_LANGUAGE'], sys.executable)"
    )
    proc = _run(kernel, "python", "-c", code)
    assert proc.returncode == 0, proc.stderr[-2000:]
    ipykernel, client, uid, gid, language, python = proc.stdout.split()
    assert int(ipykernel.split(".")[0]) < 7  # EG's jupyter_client 6 gets no kernel_info from 7
    assert (uid, gid, language) == ("1000", "100", "python")
    assert python == f"{node_images.VENV}/bin/python"
    lock = node_images.CONSTRAINTS.read_text()
    assert f"jupyter-client=={client}" in lock and f"ipykernel=={ipykernel}" in lock
    assert _config(kernel)["Cmd"] == ["/usr/local/bin/bootstrap-kernel.sh"]


def test_the_gateway_image_starts_eg_from_its_start_script(built):
    images, _ = built
    gateway = images["enterprise-gateway"]
    config = _config(gateway)
    assert config["Cmd"] == ["/usr/local/bin/start-enterprise-gateway.sh"]
    assert config["User"] == "jovyan"
    name = f"egh-selftest-eg-{uuid.uuid4().hex[:8]}"
    env = {"EG_ALLOWED_KERNELS": "['python_kubernetes']", "EG_CULL_IDLE_TIMEOUT": "1234"}
    argv = ["podman", "run", "--detach", "--name", name, "--network", "none"]
    argv += ["--health-interval", "disable", *node_images.PODMAN_LIMITS]
    for key, value in env.items():
        argv += ["--env", f"{key}={value}"]
    subprocess.run(
        [*argv, node_images.cri_ref(gateway)], check=True, timeout=60, capture_output=True
    )
    try:

        def logs() -> str:
            out = subprocess.run(
                ["podman", "logs", name], capture_output=True, text=True, timeout=30
            )
            return out.stdout + out.stderr

        text = wait_for(
            "EG in the gateway image to listen",
            lambda: (t := logs()) and "is available at" in t and t,
            timeout=90,
            detail=lambda: logs()[-1500:],
        )
        assert "Jupyter Enterprise Gateway 3.3.0 is available at http://0.0.0.0:8888" in text
        # the chart's EG_* variables reach EG only through the start script's options
        ps = subprocess.run(
            ["podman", "exec", name, "ps", "-eo", "args"],
            capture_output=True,
            text=True,
            timeout=30,
        )
        eg_argv = next(line for line in ps.stdout.splitlines() if "enterprisegateway" in line)
        assert "--RemoteMappingKernelManager.cull_idle_timeout=1234" in eg_argv, eg_argv
        assert "--KernelSpecManager.whitelist=['python_kubernetes']" in eg_argv, eg_argv
    finally:
        subprocess.run(
            ["podman", "rm", "--force", "--time", "5", name], capture_output=True, timeout=60
        )


def test_the_gateway_image_runs_the_kubernetes_launcher_the_kernelspecs_bring(built):
    """EG runs each kernelspec's argv (`python .../launch_kubernetes.py`) in its own container:
    the script's imports, read from EG's sdist, must work with the python on its PATH."""
    images, eg = built
    script = eg.path("etc/kernel-launchers/kubernetes/scripts/launch_kubernetes.py").read_text()
    imports = [line for line in script.splitlines() if line.startswith(("import ", "from "))]
    assert any("kubernetes" in line for line in imports) and any(
        "jinja2" in line for line in imports
    )
    proc = _run(images["enterprise-gateway"], "python", "-c", "\n".join(imports))
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_the_kernelspecs_image_is_copied_by_cp_and_names_the_kernel_image(built, tmp_path):
    images, _ = built
    # the chart's init container: `cp -r /kernels /usr/local/share/jupyter`, as the image's user
    script = "mkdir -p /tmp/share/kernels && cp -r /kernels /tmp/share && "
    script += "cat /tmp/share/kernels/python_kubernetes/kernel.json"
    proc = _run(images["kernelspecs"], "sh", "-c", script)
    assert proc.returncode == 0, proc.stderr[-2000:]
    spec = json.loads(proc.stdout)
    assert spec["metadata"]["process_proxy"]["config"]["image_name"] == images["kernel-py"].ref
    listing = _run(images["kernelspecs"])  # its command lists /kernels
    assert "launch_kubernetes.py" in listing.stdout and "kernel-pod.yaml.j2" in listing.stdout


@contextlib.contextmanager
def _private_containerd(root: Path):
    """A containerd of the test's own: its own root, state, socket and opt dir; CRI off."""
    sock = root / "containerd.sock"
    (root / "config.toml").write_text(
        "version = 2\n"
        f'root = "{root}/root"\nstate = "{root}/state"\n'
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
        f'[grpc]\n  address = "{sock}"\n[ttrpc]\n  address = "{sock}.ttrpc"\n'
        f'[plugins."io.containerd.internal.v1.opt"]\n  path = "{root}/opt"\n'
    )
    log = open(root / "containerd.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["containerd", "--config", str(root / "config.toml")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        wait_for("the private containerd's socket", sock.exists, timeout=30)
        yield sock
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        log.close()
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(str(root))), reverse=True):
            subprocess.run(["umount", mount], capture_output=True, timeout=30)


@pytest.mark.skipif(
    shutil.which("containerd") is None or shutil.which("ctr") is None,
    reason="containerd and ctr not installed (apt-get install containerd)",
)
def test_the_archive_imports_into_containerd_under_the_name_pods_ask_for(built, tmp_path):
    images, _ = built
    kernel = images["kernel-py"]
    archive = node_images.export_image(kernel, lambda _m: None)
    assert archive == node_images.archive_path(kernel) and archive.stat().st_size > 0
    again = node_images.export_image(kernel, lambda _m: None)
    assert again == archive
    with _private_containerd(tmp_path) as sock:
        ctr = ["ctr", "--address", str(sock), "--namespace", "k8s.io", "images"]
        proc = subprocess.run(
            [*ctr, "import", str(archive)], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr
        names = subprocess.run([*ctr, "ls", "--quiet"], capture_output=True, text=True, timeout=60)
        # the CRI turns the kernelspec's eg-harness/kernel-py:TAG into docker.io/...: that name
        assert node_images.cri_ref(kernel) in names.stdout.split(), names.stdout


def test_a_tool_past_its_bound_is_killed_with_its_children(tmp_path):
    marker = tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {marker}; wait"
    started = time.monotonic()
    with pytest.raises(TargetUnavailable, match="did not finish within its bound of 2 s"):
        node_images.run_tool(["sh", "-c", script], "a test tool", 2, lambda _m: None)
    assert time.monotonic() - started < 20
    child = int(marker.read_text())
    wait_for("the tool's child to be gone", lambda: not Path(f"/proc/{child}").exists(), 10)


def test_a_failing_tool_says_what_failed_and_its_last_lines():
    with pytest.raises(TargetUnavailable, match=r"a test tool failed \(exit 3\): one \| two"):
        node_images.run_tool(["sh", "-c", "echo one; echo two; exit 3"], "a test tool", 30, print)
    with pytest.raises(TargetUnavailable, match="no-such-tool-egh is not installed"):
        node_images.run_tool(["no-such-tool-egh"], "test", 5, print)


def _hanging_image(tmp_path: Path, base: str):
    """An image whose build hangs in a RUN step (what a stuck pip or apt would do)."""
    context = tmp_path / "hang"
    context.mkdir()
    (context / "Dockerfile").write_text("ARG BASE_IMAGE\nFROM ${BASE_IMAGE}\nRUN sleep 300\n")
    digest = uuid.uuid4().hex * 2
    return Image("egh-selftest-hang", "hangs", context, digest, {"BASE_IMAGE": base})


def _build_leftovers() -> list[str]:
    found = []
    runc = subprocess.run(["runc", "list", "--format", "json"], capture_output=True, text=True)
    for entry in json.loads(runc.stdout or "null") or []:
        if entry["id"].startswith(node_images.RUNC_PREFIX):
            found.append(f"runc {entry['id']} {entry['status']}")
    podman = subprocess.run(
        ["podman", "ps", "--all", "--external", "--format", "json"], capture_output=True, text=True
    )
    for container in json.loads(podman.stdout or "null") or []:
        if any(n.endswith(node_images.WORKING_SUFFIX) for n in container.get("Names") or []):
            found.append(f"container {container['Names']}")
    return found


def _runc_running() -> bool:
    return any(line.startswith("runc") and "running" in line for line in _build_leftovers())


def test_a_build_past_its_bound_leaves_no_container_or_process(built, tmp_path, monkeypatch):
    assert _build_leftovers() == []
    image = _hanging_image(tmp_path, node_images.BASE.ref)
    monkeypatch.setitem(node_images.TIMEOUTS, "build", 10)
    with pytest.raises(TargetUnavailable, match="within its bound of 10 s"):
        node_images._build(image, print)
    assert _build_leftovers() == []
    assert not node_images.podman_has(node_images.cri_ref(image))


def test_negative_twin_a_sigkilled_build_leaves_containers_that_sweep_removes(built, tmp_path):
    image = _hanging_image(tmp_path, node_images.BASE.ref)
    proc = subprocess.Popen(
        node_images.build_argv(image),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for("the hanging build's RUN step", _runc_running, timeout=60)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the harness killed without a chance to clean up
        proc.wait(10)
    left = _build_leftovers()
    assert any(item.startswith("runc") for item in left), left
    assert any(item.startswith("container") for item in left), left
    removed = node_images.sweep_build_leftovers()
    assert len(removed) == len(left), (removed, left)
    assert _build_leftovers() == []


def test_a_lost_podman_store_gets_the_base_back_from_the_cached_tarball(
    built, tmp_path, monkeypatch
):
    assert node_images.base_tarball().is_file()
    conf = tmp_path / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp_path}/graph"\n'
        f'runroot = "{tmp_path}/run"\n'
    )
    monkeypatch.setenv("CONTAINERS_STORAGE_CONF", str(conf))  # an empty store of the test's own
    assert not node_images.podman_has(node_images.BASE.ref)
    lines: list[str] = []
    started = time.monotonic()
    try:
        assert node_images.ensure_base(lines.append) == node_images.BASE.ref
        elapsed = time.monotonic() - started
        assert node_images.podman_has(node_images.BASE.ref)
        assert not [line for line in lines if "mmdebstrap" in line], lines
        assert elapsed < 60, f"re-import took {elapsed:.1f}s"
    finally:
        own_store = {**os.environ, "CONTAINERS_STORAGE_CONF": str(conf)}  # never the real one
        subprocess.run(
            ["podman", "rmi", "--all", "--force"], capture_output=True, timeout=60, env=own_store
        )
    assert not [m for m in Path("/proc/mounts").read_text().split() if m.startswith(str(tmp_path))]
