"""EG's own SSH launch command for a kernel env, built by the gateway's installed code and run
by a shell as sshd would run it.

EG's distributed process proxy starts a kernel on a remote host with `ssh host <command>`, the
command made by `DistributedProcessProxy._build_startup_command` (`export KEY=VALUE;...nohup
ARGV ... & echo $!`); sshd hands that string to the user's shell. A target whose remote hosts
are this machine never takes that branch (EG runs the argv directly), so the harness asks the
gateway's own Python for the command it would send to a remote address and runs it with
`sh -c`, the kernel's argv replaced by one that writes the variable's bytes to a file: what the
shell did to each value is then visible byte for byte, and a payload that ran leaves its canary.
"""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

# Runs in the gateway's interpreter: EG's method on a stand-in for the proxy, with a
# non-local address so the SSH branch is taken.
_BUILD = r"""
import json, sys
from types import SimpleNamespace
from enterprise_gateway.services.processproxies.distributed import DistributedProcessProxy
req = json.load(sys.stdin)
proxy = SimpleNamespace(ip="192.0.2.10", kernel_manager=SimpleNamespace(
    kernel_spec=SimpleNamespace(env={})))
cmd = DistributedProcessProxy._build_startup_command(proxy, req["argv"], env=req["env"])
print(json.dumps({"cmd": cmd}))
"""


@dataclass
class ShellRun:
    command: str  # the command EG would send over ssh
    arrived: bytes | None  # the variable's bytes as the launched process saw them
    returncode: int
    output: str


def build(
    gateway_python: str, argv: list[str], env: dict[str, str], log_dir: Path, timeout: float
) -> str:
    """The command EG's installed DistributedProcessProxy builds for a remote host (its kernel
    log under `log_dir`: EG_KERNEL_LOG_DIR, read when EG's module is imported)."""
    proc = subprocess.run(
        [gateway_python, "-c", _BUILD],
        env={**os.environ, "EG_KERNEL_LOG_DIR": str(log_dir)},
        input=json.dumps({"argv": argv, "env": env}),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the gateway's Python could not build EG's command: {proc.stderr}")
    return json.loads(proc.stdout)["cmd"]


def run(
    gateway_python: str, env: dict[str, str], variable: str, workdir: Path, timeout: float
) -> ShellRun:
    """Build EG's command for `env`, run it with sh -c as sshd would, wait for the launched
    process and read what it saw of `variable`."""
    out = workdir / "arrived.bin"
    done = workdir / "done"
    reader = (
        f"import os; open({str(out)!r}, 'wb').write(os.environb.get({variable.encode()!r}, b'')"
        f" if {variable.encode()!r} in os.environb else b'<missing>'); open({str(done)!r}, 'w')"
    )
    # EG joins argv with spaces unquoted (a kernelspec's argv is trusted): quote ours for sh.
    argv = [gateway_python, "-c", _sh_quote(reader)]
    cmd = build(gateway_python, argv, env, workdir, timeout)
    proc = subprocess.run(
        ["sh", "-c", cmd + "; wait"],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=workdir,
        check=False,
    )
    if not done.exists():
        arrived = None
    else:
        data = out.read_bytes()
        arrived = None if data == b"<missing>" else data
    return ShellRun(cmd, arrived, proc.returncode, (proc.stdout + proc.stderr).strip())


def _sh_quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"
