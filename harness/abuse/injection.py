"""KERNEL_* injection probes, as data: the values, the launch paths they travel, and what EG
3.3.0 is known to do with them.

EG copies every `KERNEL_*` value of a start request's `env` into the kernel's environment, and
its launchers use some of them on the way: the Kubernetes launcher renders them into
kernel-pod.yaml.j2 (a Jinja template, then YAML), the Spark run scripts `eval` a SPARK_OPTS that
names `${KERNEL_USERNAME}`, and the distributed process proxy writes them into the shell command
it runs over SSH. A value is safe when it is refused (a 4xx) or arrives in the kernel byte for
byte, with nothing it describes having happened: no canary file a shell would have created, no
field a YAML parser would have added to the pod, no option spark-submit would have taken.

`{canary}` in a value is a path the harness gives each probe (under a temp dir the kernel
sees); a payload that runs creates it. A new payload or path is one more record.
"""

from __future__ import annotations

from typing import Literal

from eg_harness.abuse.catalogue import Known
from pydantic import BaseModel, ConfigDict, Field

PROBE_VAR = "KERNEL_EGH_PROBE"  # a KERNEL_* variable no launcher reads: passed through as is
EG_MAX_ENV_VALUE = 4096  # EG 3.3 services/kernels/handlers.py MAX_ENV_VALUE_LENGTH
SPARK_MARK = "spark.egh.injected"  # the conf key a Spark payload tries to add

VARIABLE_PREFIX = {"KERNEL_WORKING_DIR": "/tmp/egh-wd/"}

PathKind = Literal["local-process", "remote-launch", "remote-ssh", "spark", "kubernetes-pod"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Payload(_Record):
    id: str
    what: str  # the report's "payload" column
    value: str  # "{canary}" becomes the probe's canary path
    # What must happen: "safe" = refused with a 4xx, or arrives intact with no side effect;
    # "refused" = only a 4xx will do (a value no process environment can hold, or over EG's
    # own limit).
    expect: Literal["safe", "refused"] = "safe"
    # The variables it is sent in, by launch path: PROBE_VAR everywhere, and on the paths
    # whose launcher reads a variable, that variable too (a Spark run script's
    # ${KERNEL_USERNAME}, a templated pod field).
    variables: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    known: dict[str, Known] = Field(default_factory=dict)  # by path kind

    def text(self, canary: str, variable: str = PROBE_VAR) -> str:
        """The value sent in `variable`: a working directory stays absolute, so the kernel's
        container can still start where the value is kept intact."""
        return VARIABLE_PREFIX.get(variable, "") + self.value.replace("{canary}", canary)

    def variables_for(self, kind: str) -> tuple[str, ...]:
        return self.variables.get(kind, (PROBE_VAR,))


NUL_IN_ENV = (
    "EG 3.3.0 services/kernels/handlers.py _build_kernel_env checks a value's type and length "
    "but not for NUL; the launch's Popen raises 'embedded null byte' (a 500). Fix: refuse "
    "values containing NUL with a 400 in _build_kernel_env"
)
SPARK_EVAL = (
    'EG 3.3.0 etc/kernelspecs/spark_*/bin/run.sh runs `eval exec spark-submit "${SPARK_OPTS}"` '
    "and kernel.json's SPARK_OPTS holds `--name ${KERNEL_USERNAME}-${KERNEL_ID}` unquoted, so "
    "the username is word-split into spark-submit options (the local target's run_spark.py "
    "splits SPARK_OPTS the same way). Fix: quote the reference in SPARK_OPTS "
    '(--name "${KERNEL_USERNAME}-${KERNEL_ID}") or refuse KERNEL_USERNAME values outside '
    "[A-Za-z0-9._@-]"
)
SPARK_SPLIT = (
    "the same unquoted ${KERNEL_USERNAME} in SPARK_OPTS: a username with a space is split into "
    "two words and spark-submit takes the second as its application ('Failed to get main class "
    "in JAR'), so the kernel never starts and EG answers 500 (seen on the local target). Fix as "
    "for spark-conf-in-username"
)
SSH_MANGLES = (
    "EG 3.3.0 services/processproxies/distributed.py _build_startup_command quotes values with "
    "json.dumps (JSON escapes, not the shell's: \\n, \\uXXXX stay literal) and doubles single "
    "quotes, so the value reaching a kernel over ssh differs from the one sent. Fixed with the "
    "shell injection by EG commit 83f54a8 (shlex.quote; not in a release yet)"
)

SSH_UNREACHABLE = (
    "the target's distributed kernelspecs launch on this machine (remote_hosts are local "
    "addresses), where EG 3.3.0 runs the command without ssh or a shell; the SSH path is "
    "judged on EG's own command builder instead (test_ssh_command_keeps_values_inert)"
)
SSH_INJECTION = (
    "EG 3.3.0 services/processproxies/distributed.py _build_startup_command writes each env "
    'value as export KEY="<json.dumps(value)>"; into the command it runs over ssh: inside '
    "double quotes the remote shell still runs $( ) and backticks. Fixed upstream by EG commit "
    "83f54a8 (2026-07, not in a release yet: values quoted with shlex.quote); until then, use "
    "no remote_hosts reached over ssh, or restrict KERNEL_* values at a proxy"
)

SPARK_RUN_SH = (
    "EG 3.3.0 etc/kernelspecs/spark_*_kubernetes/bin/run.sh appends the options "
    "launch_kubernetes.py _get_spark_resources writes from the rendered pod resources "
    "(--conf spark.driver.cores=<KERNEL_CPUS> ..., values unquoted) to SPARK_OPTS and runs "
    '`eval exec spark-submit "${SPARK_OPTS}"`, so a KERNEL_CPUS/KERNEL_MEMORY(_LIMIT) value is '
    "shell source in the gateway's pod; SPARK_OPTS' own ${KERNEL_USERNAME} is word-split. No "
    "upstream fix found (checked against EG's issues and PRs, 2026-12). Fix: shlex.quote each "
    "value in _get_spark_resources and quote the references in SPARK_OPTS, or drop the eval; "
    "until then refuse KERNEL_CPUS/KERNEL_MEMORY values that are not Kubernetes quantities "
    "(a proxy in front of EG, or the audit's grammar on profiles)"
)
NUL_IN_POD_LAUNCH = (
    "EG 3.3.0 services/processproxies/k8s.py launch_process creates the kernel's namespace and "
    "its RoleBinding (_determine_kernel_namespace) before container.py's launch_kernel runs "
    "launch_kubernetes.py with Popen, which raises 'embedded null byte' (a 500); nothing deletes "
    "the namespace, as no kernel was registered to shut down. Fix: refuse values containing NUL "
    "with a 400 in services/kernels/handlers.py _build_kernel_env, and delete a namespace EG "
    "created when launch_process fails (e.g. in KubernetesProcessProxy.launch_process's except)"
)
SPLIT = Known(observed="500: the kernel never starts", cause=SPARK_SPLIT)
RAN = Known(observed="the payload ran in the remote shell", cause=SSH_INJECTION)
SH_RAN = Known(observed="the payload ran in the gateway's pod", cause=SPARK_RUN_SH)
SH_SPLIT = Known(observed="the value reached spark-submit split or changed", cause=SPARK_RUN_SH)
MANGLED = Known(observed="the value arrived changed", cause=SSH_MANGLES)

SPARK_USER = {"spark": (PROBE_VAR, "KERNEL_USERNAME")}
POD_FIELDS = {"kubernetes-pod": (PROBE_VAR, "KERNEL_WORKING_DIR")}

PAYLOADS: tuple[Payload, ...] = (
    Payload(
        id="shell-subst",
        what="$( ) command substitution",
        value="$(touch {canary})",
        variables={**SPARK_USER, **POD_FIELDS},
        known={"spark": SPLIT, "remote-ssh": RAN, "spark-run-sh": SH_RAN},
    ),
    Payload(
        id="shell-backticks",
        what="backtick command substitution",
        value="`touch {canary}`",
        variables={**SPARK_USER, **POD_FIELDS},
        known={"spark": SPLIT, "remote-ssh": RAN, "spark-run-sh": SH_RAN},
    ),
    Payload(
        id="shell-chain",
        what="; && | command chaining",
        value="x; touch {canary} && true | true #",
        variables=POD_FIELDS,
        known={"spark-run-sh": SH_SPLIT},
    ),
    Payload(
        id="shell-quotes",
        what="quotes that close a quoted word, then a command",
        value="x'\"; touch {canary}; echo \"'",
        variables={**SPARK_USER, **POD_FIELDS},
        known={"remote-ssh": MANGLED, "spark-run-sh": SH_SPLIT},
    ),
    Payload(
        id="newline-command",
        what="newlines around a command",
        value="x\ntouch {canary}\n",
        variables=POD_FIELDS,
        known={"remote-ssh": MANGLED, "spark-run-sh": SH_SPLIT},
    ),
    Payload(
        id="yaml-structure",
        what="YAML: a quote, a newline and new keys",
        value='x"\n    securityContext: {privileged: true}\n  egh_injected: "yes\n---\nkind: Pod',
        variables=POD_FIELDS,
        known={"remote-ssh": MANGLED, "spark-run-sh": SH_SPLIT},
    ),
    Payload(
        id="jinja-expression",
        what="Jinja expressions and a statement",
        value="{{ 7 * 7 }}{% if true %}jinja-ran{% endif %}"
        "{{ cycler.__init__.__globals__.os.popen('touch {canary}').read() }}",
        variables={**POD_FIELDS, "kubernetes-pod": (PROBE_VAR, "KERNEL_POD_NAME")},
        known={
            "remote-ssh": MANGLED,
            "spark-run-sh": Known(observed="the run script fails: no kernel", cause=SPARK_RUN_SH),
        },
    ),
    Payload(
        id="spark-conf-in-username",
        what="spark-submit options inside a value",
        value=f"egh --conf {SPARK_MARK}=true --conf spark.driver.extraJavaOptions=-Degh=1",
        variables=SPARK_USER,
        known={
            "spark": Known(observed=f"Spark conf gained {SPARK_MARK}", cause=SPARK_EVAL),
            "spark-run-sh": Known(observed=f"spark-submit gained {SPARK_MARK}", cause=SPARK_RUN_SH),
        },
    ),
    Payload(
        id="nul-byte",
        what="a NUL byte (no process environment can hold it)",
        value="before\x00after",
        expect="refused",
        known={
            kind: Known(observed="500 'embedded null byte'", cause=NUL_IN_ENV)
            for kind in ("local-process", "remote-launch", "spark")
        }
        | {
            "kubernetes-pod": Known(
                observed="500 'embedded null byte'; the kernel's namespace is left behind",
                cause=NUL_IN_POD_LAUNCH,
            )
        },
    ),
    Payload(
        id="long-at-limit",
        what=f"{EG_MAX_ENV_VALUE} characters (EG's limit)",
        value="L" * EG_MAX_ENV_VALUE,
    ),
    Payload(
        id="long-over-limit",
        what=f"{EG_MAX_ENV_VALUE + 1} characters (over EG's limit)",
        value="L" * (EG_MAX_ENV_VALUE + 1),
        expect="refused",
    ),
    Payload(
        id="unicode-controls",
        what="non-ASCII, ANSI escapes and a carriage return",
        value="naïve-Ω-\x1b[31mred\x1b[0m\r-end",
        known={"remote-ssh": MANGLED},
    ),
)
PAYLOADS_BY_ID: dict[str, Payload] = {p.id: p for p in PAYLOADS}


# What EG does with a variable on one launch path, by design: "intact" = the kernel's
# environment holds it byte for byte; "dropped" = EG removes it before the launch, so the
# kernel must not see it at all; "dropped-or-intact" = either, where the setting that decides
# is not visible to the harness (a value EG changed still fails).
Delivery = Literal["intact", "dropped", "dropped-or-intact"]

MIRROR_SETTING = "EG_MIRROR_WORKING_DIRS"  # the chart's mirrorWorkingDirs
WORKING_DIR_DROPPED = (
    "EG 3.3.0 services/processproxies/container.py launch_process deletes KERNEL_WORKING_DIR "
    f"from a container kernel's env unless {MIRROR_SETTING} is 'true' (the chart's "
    "mirrorWorkingDirs, default false); when it is, kernel-pod.yaml.j2 renders it as the "
    "container's workingDir and launch_kubernetes.py's extend_pod_env copies it into the pod's env"
)


def mirrors_working_dirs(value: str | None) -> bool:
    """EG's own reading of EG_MIRROR_WORKING_DIRS (container.py: unset is false, and only a
    case-insensitive 'true' turns it on; the chart writes "True" or "False")."""
    return (value if value is not None else "false").lower() == "true"


# Run by `sh -c` in the gateway's pod: the setting as the gateway process has it, told apart
# from unset (EG's default, false) by the "set:" mark.
MIRROR_PROBE = f'if [ "${{{MIRROR_SETTING}+set}}" = set ]; then echo "set:${MIRROR_SETTING}"; fi'


def mirror_from_probe(output: str) -> bool:
    """EG's reading of the setting from MIRROR_PROBE's output (no "set:" line: unset)."""
    line = next((x for x in output.splitlines() if x.startswith("set:")), None)
    return mirrors_working_dirs(line[len("set:") :] if line is not None else None)


def delivery(kind: str, variable: str, mirror_working_dirs: bool | None) -> Delivery:
    """How `variable` must reach a kernel on a launch path of this kind. Only container paths
    drop anything: KERNEL_WORKING_DIR, unless the gateway mirrors working directories
    (`mirror_working_dirs`: None when the harness cannot read the gateway's setting)."""
    if kind != "kubernetes-pod" or variable != "KERNEL_WORKING_DIR":
        return "intact"
    if mirror_working_dirs is None:
        return "dropped-or-intact"
    return "intact" if mirror_working_dirs else "dropped"


class LaunchPath(_Record):
    """One way the target starts kernels: a kernelspec and what EG does with it."""

    kind: PathKind
    kernelspec: str
    via: str  # the process proxy, as the report names it
    note: str = ""  # e.g. why a remote-launch path runs without ssh here


_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}


def classify(name: str, spec: dict) -> LaunchPath | None:
    """The launch path of one kernelspec as /api/kernelspecs lists it; None for the
    harness's own fault kernelspecs (they exist to fail)."""
    inner = spec.get("spec", spec)
    meta = inner.get("metadata") or {}
    if (meta.get("eg_harness") or {}).get("role") == "fault":
        return None
    proxy = meta.get("process_proxy") or {}
    cls = str(proxy.get("class_name") or "LocalProcessProxy")
    short = cls.rsplit(".", 1)[-1]
    env = inner.get("env") or {}
    if "Kubernetes" in short or "Container" in short or "Docker" in short:
        kind: PathKind = "kubernetes-pod"
    elif "SPARK_OPTS" in env:
        kind = "spark"
    elif "Distributed" in short:
        hosts = str((proxy.get("config") or {}).get("remote_hosts", "")).split(",")
        local = all(h.strip() in _LOCAL_HOSTS for h in hosts)
        return LaunchPath(
            kind="remote-launch" if local else "remote-ssh",
            kernelspec=name,
            via=short,
            note=SSH_UNREACHABLE if local else "",
        )
    else:
        kind = "local-process"
    return LaunchPath(kind=kind, kernelspec=name, via=short)


def launch_paths(kernelspecs: dict) -> list[LaunchPath]:
    """Every launch path of a gateway's /api/kernelspecs answer, one kernelspec per kind
    (the first by name), so each path is probed once."""
    seen: dict[str, LaunchPath] = {}
    for name in sorted(kernelspecs.get("kernelspecs") or {}):
        path = classify(name, kernelspecs["kernelspecs"][name])
        if path is not None and path.kind not in seen:
            seen[path.kind] = path
    return list(seen.values())
