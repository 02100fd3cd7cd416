"""EG's Spark-on-Kubernetes run script, run on this machine with a stand-in spark-submit.

EG's spark_python_kubernetes kernelspec starts `bin/run.sh`, which calls launch_kubernetes.py
with `--pod-template` (the kernel pod rendered from kernel-pod.yaml.j2 into a file, and the
rendered resources written out as spark-submit options), appends those options to SPARK_OPTS
and runs `eval exec spark-submit "${SPARK_OPTS}" ...`. All of it happens in the gateway's pod
before any kernel exists, so a live probe sees only its outcome. Here the sdist's own run.sh,
launch_kubernetes.py and template run under bash with the gateway's Python (its jinja2, yaml
and kubernetes packages; a stub kubeconfig, nothing is contacted: with --pod-template the
launcher creates no object) and a spark-submit that only writes down its argv. What the shell
did to each KERNEL_* value is then visible word by word, and a payload that ran leaves its
canary.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

KERNELSPEC = "etc/kernelspecs/spark_python_kubernetes"
SCRIPTS = "etc/kernel-launchers/kubernetes/scripts"
STUB_KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: stub, cluster: {server: "https://127.0.0.1:9"}}]
users: [{name: stub, user: {token: stub}}]
contexts: [{name: stub, context: {cluster: stub, user: stub}}]
current-context: stub
"""


@dataclass
class ScriptRun:
    argv: list[str] | None  # what spark-submit was given; None: it never ran
    returncode: int
    output: str


def _layout(sdist: Path, work: Path) -> Path:
    """A kernelspec dir as EG's kernelspecs image lays it out: bin/run.sh and scripts/."""
    spec = work / "spark_python_kubernetes"
    shutil.copytree(sdist / KERNELSPEC, spec)
    shutil.copytree(sdist / SCRIPTS, spec / "scripts")
    run = spec / "bin" / "run.sh"
    run.chmod(run.stat().st_mode | stat.S_IXUSR)
    return spec


def _spark_home(work: Path, argv_file: Path) -> Path:
    home = work / "spark"
    (home / "bin").mkdir(parents=True)
    submit = home / "bin" / "spark-submit"
    submit.write_text(f'#!/bin/sh\nfor a in "$@"; do printf \'%s\\0\' "$a"; done > {argv_file}\n')
    submit.chmod(0o755)
    return home


def run(
    gateway_python: str,
    sdist: Path,
    spark_opts: str,
    kernel_env: dict[str, str],
    work: Path,
    timeout: float,
) -> ScriptRun:
    """EG's run.sh with `kernel_env` (the KERNEL_* values a start would give it)."""
    spec = _layout(sdist, work)
    argv_file = work / "spark-submit.argv"
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(STUB_KUBECONFIG)
    env = {
        "PATH": f"{Path(gateway_python).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(work),
        "KUBECONFIG": str(kubeconfig),
        "SPARK_HOME": str(_spark_home(work, argv_file)),
        "SPARK_OPTS": spark_opts,
        "LAUNCH_OPTS": "",
        "EG_POD_TEMPLATE_DIR": str(work),
        "KUBERNETES_SERVICE_HOST": "",
        "KUBERNETES_SERVICE_PORT": "",
        **kernel_env,
    }
    kernel_id = kernel_env.get("KERNEL_ID", "0")
    proc = subprocess.run(
        [
            "bash",
            str(spec / "bin" / "run.sh"),
            "--RemoteProcessProxy.kernel-id",
            kernel_id,
            "--RemoteProcessProxy.port-range",
            "0..0",
            "--RemoteProcessProxy.response-address",
            "127.0.0.1:9",
            "--RemoteProcessProxy.public-key",
            "stub",
            "--RemoteProcessProxy.spark-context-initialization-mode",
            "lazy",
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    argv = None
    if argv_file.exists():
        argv = argv_file.read_bytes().decode("utf-8", "surrogateescape").split("\0")[:-1]
    return ScriptRun(argv, proc.returncode, (proc.stdout + proc.stderr).strip())
