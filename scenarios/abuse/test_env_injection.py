"""KERNEL_* injection: values with shell, YAML and Jinja syntax, NUL and over-long values, sent
in a kernel start's `env` on every launch path the target offers, are refused (4xx) or arrive
inside the kernel byte for byte, and nothing they describe happens.

The payloads and paths are records (eg_harness.abuse.injection). A path is one kernelspec per
kind the gateway lists: a local process, EG's remote-launch protocol (a distributed process
proxy), a Spark driver (its run script reads ${KERNEL_USERNAME}), a kernel pod on Kubernetes
(launch_kubernetes.py renders kernel-pod.yaml.j2). Each probe reads the variables back inside
the kernel (os.environb, through an execute), looks for the canary file a payload that ran
creates (inside the kernel; on the harness's side too where it shares the machine), and on
Spark the driver's conf, on a cluster the kernel pod as the API server has it and the canary in
the gateway's pod (where EG's launcher renders the template). The SSH branch of EG's distributed
launch is judged on EG's own command builder where the target's hosts are all local.

Non-destructive: only the harness's own kernels, so it runs on every target.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import tempfile
import uuid
from pathlib import Path

import pytest
from eg_harness.abuse import spark_script, ssh_command
from eg_harness.abuse.injection import (
    MIRROR_PROBE,
    PAYLOADS,
    PROBE_VAR,
    SPARK_MARK,
    SPARK_RUN_SH,
    SSH_INJECTION,
    delivery,
    launch_paths,
    mirror_from_probe,
)
from eg_harness.checks.injection import Seen, judge, pod_injected
from eg_harness.errors import TargetUnavailable
from eg_harness.fixtures.abilities import require
from eg_harness.k8s.client import Kube
from eg_harness.kernel.channels import ChannelsError
from eg_harness.targets.abilities import ClusterAccess, ProcessView
from eg_harness.targets.kind.egdist import ensure_eg_dist

TABLE = "KERNEL_* injection"
COLUMNS = ["payload", "path", "kernelspec", "variables", "answer", "verdict"]
NOTE = (
    "Each payload in a kernel start's env, on each launch path the target offers: refused "
    "(4xx) or arrived intact, with no canary created, no pod field or Spark option added. "
    "'known upstream' rows are strict xfails: the cause and the fix are in the record."
)
KINDS = ("local-process", "remote-launch", "spark", "kubernetes-pod")
USER = "egh-inject"


def _param(kind, payload):
    marks = []
    known = payload.known.get(kind)
    if known:
        marks.append(pytest.mark.xfail(strict=True, reason=f"{known.observed}: {known.cause}"))
    if kind in ("spark", "kubernetes-pod"):
        marks.append(pytest.mark.slow)
    return pytest.param(kind, payload, id=f"{kind}-{payload.id}", marks=marks)


def _items():
    for kind in KINDS:
        for payload in PAYLOADS:
            # Spark drivers are dear: only the payloads aimed at what its run script reads.
            if kind == "spark" and kind not in payload.variables:
                continue
            yield _param(kind, payload)


@pytest.fixture(scope="module")
def paths(target):
    client = target.gateway.client()
    try:
        return {p.kind: p for p in launch_paths(client.kernelspecs())}
    finally:
        client.close()


@pytest.fixture(scope="module")
def canary_dir(target):
    """Where canaries go: a fresh temp dir when the kernels share the harness's machine (both
    sides can look), else the kernel's /tmp (only the kernel, and a pod exec, can look)."""
    if target.ability(ProcessView) is None:
        yield None
        return
    made = Path(tempfile.mkdtemp(prefix="egh-inject-"))
    made.chmod(0o777)  # a kernel running as another user must be able to create the canary
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture(scope="module")
def mirror_working_dirs(target) -> bool | None:
    """Whether the gateway hands KERNEL_WORKING_DIR to container kernels, as EG reads it from
    its own environment (EG_MIRROR_WORKING_DIRS, read in the gateway's pod); None when the
    harness cannot look (no cluster access), so either of EG's two behaviours passes."""
    access = target.ability(ClusterAccess)
    if access is None:
        return None
    kube = Kube(access.kubernetes())
    try:
        pods = kube.gateway_pods()
        if not pods:
            return None
        res = kube.exec(pods[0], ["sh", "-c", MIRROR_PROBE])
    finally:
        kube.close()
    # A status the exec channel could not read counts only with the setting in the output.
    readable = res.code == 0 or (res.code is None and "set:" in res.output)
    return mirror_from_probe(res.output) if readable else None


def _canary(canary_dir: Path | None, name: str) -> str:
    leaf = f"egh-canary-{name}-{uuid.uuid4().hex[:8]}"
    return str(canary_dir / leaf) if canary_dir else f"/tmp/{leaf}"


def _reader(variables: list[str], canary: str) -> str:
    """Code run in the kernel: each variable's bytes (base64), the canary, Spark's conf."""
    return (
        "import base64 as _b, json as _j, os as _o\n"
        f"_v = {variables!r}\n"
        "_r = {'env': {k: (_b.b64encode(_o.environb[k.encode()]).decode() "
        "if k.encode() in _o.environb else None) for k in _v},\n"
        f"      'canary': _o.path.exists({canary!r}), 'spark': None}}\n"
        "try:\n"
        "    _r['spark'] = dict(sc.getConf().getAll())\n"
        "except NameError:\n"
        "    pass\n"
        "print(_j.dumps(_r))\n"
    )


def _channels(client, kernel_id: str, bound: float):
    """The kernel's channels, a second try when the upgrade timed out: EG 3.3's upgrade
    waits for the kernel's kernel_info, and a just-started kernel on a loaded machine (the
    first seconds of a parallel run) answered later than the launch timeout once. A transport
    timeout says nothing about an injection; a second one is reported as it is."""
    try:
        return client.channels(kernel_id, connect_timeout=bound)
    except ChannelsError as exc:
        if "Timeout" not in str(exc):
            raise
    return client.channels(kernel_id, connect_timeout=bound)


def _read_kernel(client, kernel_id: str, sent: dict[str, str], canary: str, seen: Seen, bound):
    ch = _channels(client, kernel_id, bound)
    try:
        ch.wait_ready(bound)
        out = ch.execute(_reader(list(sent), canary), timeout=bound).stdout.strip()
    finally:
        ch.close()
    got = json.loads(out.splitlines()[-1])
    seen.arrived = {k: (None if v is None else base64.b64decode(v)) for k, v in got["env"].items()}
    seen.canary_in_kernel = bool(got["canary"])
    seen.spark_conf = got["spark"]


def _read_cluster(target, kernel_id: str, started: bool, sent: dict[str, str], canary, seen):
    """The kernel's pod as the API server has it, and, for a start that gave no kernel, what
    EG left for that kernel id (recorded, then deleted: the harness leaves nothing)."""
    access = target.ability(ClusterAccess)
    if access is None:
        return
    kube = Kube(access.kubernetes())
    try:
        pods = kube.kernel_pods(kernel_id)
        if not pods and started:
            seen.pod_problems.append(f"no pod labelled kernel_id={kernel_id}")
        for pod in pods:
            body = kube.api.sanitize_for_serialization(pod)
            seen.pod_problems += pod_injected(body, sent, seen.delivery)
        if not started:
            namespaces = kube.kernel_namespaces(kernel_id)
            if namespaces is not None:
                seen.left_behind = [f"pod {p.metadata.name}" for p in pods]
                seen.left_behind += [f"namespace {ns}" for ns in namespaces]
            for ns in namespaces or ():
                kube.delete_namespace(ns)
        for gw in kube.gateway_pods()[:1]:
            res = kube.exec(gw, ["sh", "-c", f"test -e '{canary}' && echo HIT || echo MISS"])
            seen.canary_in_gateway = "HIT" in res.output
    finally:
        kube.close()


@pytest.mark.parametrize(("kind", "payload"), list(_items()))
def test_kernel_env_injection_is_inert(
    kind, payload, paths, target, canary_dir, mirror_working_dirs, run_state
):
    path = paths.get(kind)
    if path is None:
        pytest.skip(f"the target offers no {kind} kernelspec (kernelspecs: {sorted(paths)})")
    canary = _canary(canary_dir, f"{kind}-{payload.id}")
    sent = {var: payload.text(canary, var) for var in payload.variables_for(kind)}
    client = target.gateway.client(username=USER)
    bound = client.launch_timeout
    if kind == "spark" and target.spark is not None:
        bound = max(bound, target.spark.launch_timeout)
    fixed = {"KERNEL_LAUNCH_TIMEOUT": str(int(bound))}
    if kind == "kubernetes-pod":
        # EG takes a client's KERNEL_ID as the kernel's id: what a failed start left on the
        # cluster is then found by its label, with no 201 to name it.
        fixed["KERNEL_ID"] = str(uuid.uuid4())
    env = client.kernel_env({**fixed, **sent})
    seen = Seen(status=None)
    seen.delivery = {var: delivery(kind, var, mirror_working_dirs) for var in sent}
    kernel_id = None
    try:
        try:
            resp = client.request(
                "POST",
                "/api/kernels",
                json={"name": path.kernelspec, "env": env},
                timeout=bound + 30,
            )
            seen.status = resp.status_code
            seen.message = resp.text[:300]
            if resp.status_code in (200, 201):
                kernel_id = resp.json()["id"]
                client.created.append(kernel_id)
        except Exception as exc:  # an answerless start is what is judged, not a crash
            seen.message = f"{type(exc).__name__}: {exc}"
        if kernel_id:
            try:
                _read_kernel(client, kernel_id, sent, canary, seen, bound)
            except (ChannelsError, AssertionError, ValueError) as exc:
                seen.message = f"started, but the kernel could not be read: {exc}"
                seen.status = None
        if canary_dir is not None:
            seen.canary_on_host = Path(canary).exists()
        if kind == "kubernetes-pod":
            _read_cluster(
                target, kernel_id or fixed["KERNEL_ID"], bool(kernel_id), sent, canary, seen
            )
    finally:
        client.cleanup()
        client.close()
    ok, why = judge(payload, sent, seen, canary)
    known = payload.known.get(kind)
    answer = f"{seen.status}" if seen.status is not None else "no answer"
    row = why if ok else f"FAIL: {why}"
    if known:
        row = f"known upstream ({known.observed}): {row}"
    run_state.table_row(
        TABLE, COLUMNS, [payload.what, kind, path.kernelspec, ", ".join(sent), answer, row], NOTE
    )
    assert ok, f"{why} (path {kind}, kernelspec {path.kernelspec}, canary {canary})"


def _ssh_param(payload):
    known = payload.known.get("remote-ssh")
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"{known.observed}: {known.cause}")] if known else []
    )
    return pytest.param(payload, id=payload.id, marks=marks)


@pytest.mark.parametrize("payload", [_ssh_param(p) for p in PAYLOADS if p.expect == "safe"])
def test_ssh_command_keeps_values_inert(payload, paths, target, run_state, gateway):
    """EG's SSH launch: the command EG's own code builds for a remote host, run by a shell as
    sshd runs it. Needs the gateway's Python on this machine (a process view)."""
    require(target, ProcessView, "to run the gateway's own command builder")
    ssh_paths = [p for p in paths.values() if p.kind == "remote-launch"]
    if not ssh_paths and "remote-ssh" not in paths:
        pytest.skip("the target offers no distributed (remote-launch) kernelspec")
    spec = gateway.kernelspec("python3_launcher" if ssh_paths else paths["remote-ssh"].kernelspec)
    gateway_python = (spec.get("spec") or spec)["argv"][0]
    work = Path(tempfile.mkdtemp(prefix="egh-ssh-"))
    try:
        canary = str(work / f"egh-canary-{payload.id}")
        value = payload.text(canary)
        run = ssh_command.run(
            gateway_python, {"KERNEL_ID": uuid.uuid4().hex, PROBE_VAR: value}, PROBE_VAR, work, 60
        )
        problems = []
        if Path(canary).exists():
            problems.append(f"the payload ran: canary {canary} exists")
        if run.arrived is None:
            problems.append(f"the launched process never ran or lacked {PROBE_VAR}: {run.output}")
        elif run.arrived != value.encode():
            problems.append(f"{PROBE_VAR} arrived changed: {run.arrived[:80]!r}")
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    ok = not problems
    why = "arrived intact" if ok else "; ".join(problems)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [
            payload.what,
            "remote-ssh (EG's command, sh -c)",
            "-",
            PROBE_VAR,
            "-",
            why if ok else f"FAIL: {why}",
        ],
        NOTE,
    )
    assert ok, f"{payload.what} on EG's SSH launch command: {why}. {SSH_INJECTION}"


SPARK_SCRIPT_VARS = ("KERNEL_CPUS", "KERNEL_USERNAME")


def _script_param(payload):
    known = payload.known.get("spark-run-sh")
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"{known.observed}: {known.cause}")] if known else []
    )
    return pytest.param(payload, id=payload.id, marks=marks)


@pytest.fixture(scope="module")
def eg_sdist():
    try:
        return ensure_eg_dist(progress=lambda *_: None).root
    except TargetUnavailable as exc:
        pytest.skip(f"EG's sdist (its Spark run script) is not available: {exc}")


@pytest.mark.parametrize("payload", [_script_param(p) for p in PAYLOADS if p.expect == "safe"])
def test_spark_run_script_keeps_values_inert(payload, target, gateway, eg_sdist, run_state):
    """EG's spark_python_kubernetes run.sh, as it runs in the gateway's pod: the payload in
    KERNEL_CPUS (rendered into the pod template, then a spark-submit option run.sh evals) and in
    KERNEL_USERNAME (SPARK_OPTS' --name), with the sdist's own files and the gateway's Python."""
    require(target, ProcessView, "to run EG's run script with the gateway's own Python")
    spec = gateway.kernelspec("python3_launcher")
    gateway_python = (spec.get("spec") or spec)["argv"][0]
    kernel_json = json.loads((eg_sdist / spark_script.KERNELSPEC / "kernel.json").read_text())
    work = Path(tempfile.mkdtemp(prefix="egh-spark-sh-"))
    problems: list[str] = []
    try:
        canary = str(work / f"egh-canary-{payload.id}")
        value = payload.text(canary)
        kernel_id = str(uuid.uuid4())
        env = {
            "KERNEL_ID": kernel_id,
            "KERNEL_POD_NAME": f"egh-{kernel_id}",
            "KERNEL_NAMESPACE": "egh",
            "KERNEL_IMAGE": "egh/kernel",
            "KERNEL_EXECUTOR_IMAGE": "egh/kernel",
            "KERNEL_SERVICE_ACCOUNT_NAME": "egh",
            **dict.fromkeys(SPARK_SCRIPT_VARS, value),
        }
        run = spark_script.run(
            gateway_python, eg_sdist, kernel_json["env"]["SPARK_OPTS"], env, work, 60
        )
        if Path(canary).exists():
            problems.append(f"the payload ran: canary {canary} exists")
        if run.argv is None:
            problems.append(
                f"spark-submit never ran (the kernel would not start): {run.output[-300:]}"
            )
        else:
            words = run.argv
            if f"spark.driver.cores={value}" not in words:
                got = [w for w in words if w.startswith("spark.driver.cores=")]
                problems.append(f"KERNEL_CPUS reached spark-submit changed: {got[:2]!r}")
            if f"{value}-{kernel_id}" not in words:
                at = words.index("--name") + 1 if "--name" in words else None
                problems.append(
                    f"KERNEL_USERNAME reached --name changed: {words[at] if at else None!r}"
                )
            if any(SPARK_MARK in w for w in words):
                problems.append(f"spark-submit gained an option: {SPARK_MARK}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = not problems
    why = "arrived intact" if ok else "; ".join(problems)
    run_state.table_row(
        TABLE,
        COLUMNS,
        [
            payload.what,
            "spark on Kubernetes (EG's run.sh, bash)",
            "spark_python_kubernetes",
            ", ".join(SPARK_SCRIPT_VARS),
            "-",
            why if ok else f"FAIL: {why}",
        ],
        NOTE,
    )
    assert ok, f"{payload.what} in EG's spark_python_kubernetes run.sh: {why}. {SPARK_RUN_SH}"
