"""The seeded-fault catalogue: each misconfiguration the local target can reproduce, as data.

A fault is only worth seeding if a suite catches it, so every record names the scenario that
must fail and the words its message must contain; the negative twins, `eg-harness faults` and
the table in docs/faults.md are all built from this one list. What a fault changes is data too
(gateway environment, hub settings, a proxy mode, kernelspec argv insertions, limits the limited
gateway forgets), applied generically by the local target: a new fault is a new record, not
new code.
"""

from __future__ import annotations

from typing import Literal

from eg_harness.errors import ConfigError
from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Catch(_Record):
    """One scenario that must fail under the fault, and how its failure must read."""

    suite: str  # a suite under scenarios/, or "gate" (the bench/gate self-test)
    select: str  # the pytest -k selection that runs the scenario
    test: str  # part of the failing test's name
    words: tuple[str, ...]  # each must appear in the failure message
    variant: str = ""  # tells apart several catches of one fault
    # How the twin reaches the faulted stack: "local" (the local target, every ability), or
    # "existing" (the same local stack described by a target config, as an operator points the
    # harness at a deployment it did not build: no own stacks, no process view, no control).
    target: Literal["local", "existing"] = "local"


class KernelspecPatch(_Record):
    """Arguments inserted into a kernelspec's argv right after an existing element.

    Applied to the parsed kernel.json before placeholders are filled, so a patch whose anchor
    is missing is an error rather than a silent no-op.
    """

    kernelspec: str
    after: str  # an argv element of the kernelspec as written, e.g. "{launchers}/run_spark.py"
    insert: tuple[str, ...]

    def apply(self, spec: dict) -> dict:
        argv = list(spec["argv"])
        if self.after not in argv:
            raise ConfigError(
                f"fault patch for kernelspec {self.kernelspec!r}: {self.after!r} is not in its "
                "argv; update the fault record in eg_harness.targets.faults"
            )
        at = argv.index(self.after) + 1
        return {**spec, "argv": [*argv[:at], *self.insert, *argv[at:]]}


class KernelspecFileDrop(_Record):
    """Lines removed from one file of the kernelspecs image (a cluster target's seeded fault):
    `path` under the image's kernels/ directory, each line matched whole after stripping."""

    path: str  # e.g. "spark_python_kubernetes/scripts/launch_kubernetes.py"
    lines: tuple[str, ...]


def drop_template_lines(text: str, drops: tuple[str, ...], what: str) -> str:
    """`text` without the lines whose stripped content is one of `drops`; each must match
    exactly one line, so a template that changed upstream is an error, not a silent no-op."""
    lines = text.splitlines(keepends=True)
    for drop in drops:
        hits = [i for i, line in enumerate(lines) if line.strip() == drop]
        if len(hits) != 1:
            raise ConfigError(
                f"fault patch for {what}: {drop!r} is on {len(hits)} lines, not one; update the "
                "fault record in eg_harness.targets.faults"
            )
        del lines[hits[0]]
    return "".join(lines)


class Fault(_Record):
    name: str
    description: str  # what is wrong with the deployment
    symptom: str  # what the catching suite sees (docs/faults.md's table)
    caught_by: tuple[Catch, ...]
    gateway_env: dict[str, str] = Field(default_factory=dict)  # EG environment overrides
    gateway_env_unset: tuple[str, ...] = ()  # EG environment variables removed
    gateway_config: dict[str, object] = Field(default_factory=dict)  # EG traitlets ("Cls.trait")
    # A wrapper EG is started under (its argv, placeholders as in kernelspecs): an entrypoint.
    gateway_argv_prefix: tuple[str, ...] = ()
    hub_settings: dict[str, object] = Field(default_factory=dict)  # read by the hub config
    proxy_mode: str | None = None  # a faultproxy mode put in front of the gateway
    kernelspec_patches: tuple[KernelspecPatch, ...] = ()
    limits_unset: bool = False  # the limited gateway starts without its limits
    operator_skips: tuple[str, ...] = ()  # upgrade steps the operator forgets ("upgrade-db")
    # Cluster targets (node): lines removed from EG's kernel-pod.yaml.j2 in the kernelspecs
    # the gateway reads, and rights ("verb resource") taken from the gateway's ClusterRole.
    kernel_pod_template_drops: tuple[str, ...] = ()
    gateway_role_revokes: tuple[str, ...] = ()
    # Cluster targets (node): lines removed from other files of the kernelspecs image (a
    # kernelspec's launcher), and keys removed from the hub profile's kubespawner_override.
    kernelspec_file_drops: tuple[KernelspecFileDrop, ...] = ()
    hub_profile_unsets: tuple[str, ...] = ()
    targets: tuple[str, ...] = ("local",)  # the targets that can seed it

    @property
    def suite(self) -> str:
        return self.caught_by[0].suite

    @field_validator("operator_skips")
    @classmethod
    def _known_steps(cls, steps: tuple[str, ...]) -> tuple[str, ...]:
        unknown = set(steps) - set(OPERATOR_STEPS)
        if unknown:
            raise ValueError(f"unknown operator steps {sorted(unknown)}: known {OPERATOR_STEPS}")
        return steps


# The operator steps of an upgrade a fault can make the operator forget (targets/local).
OPERATOR_STEPS = ("upgrade-db",)


CATALOGUE: tuple[Fault, ...] = (
    Fault(
        name="gateway_no_token",
        description="the gateway runs without an auth token and accepts any request",
        symptom="every endpoint accepts bad credentials",
        gateway_env_unset=("EG_AUTH_TOKEN",),
        caught_by=(
            Catch(
                suite="auth",
                select="wrong_credentials_refused",
                test="test_wrong_credentials_refused",
                words=("accepted bad credentials", "not enforcing its auth token"),
            ),
        ),
    ),
    Fault(
        name="gateway_allows_root",
        description="the gateway lets root start kernels (unauthorized_users emptied)",
        symptom="root can start kernels",
        gateway_env={"EG_UNAUTHORIZED_USERS": "nobody-at-all"},
        caught_by=(
            Catch(
                suite="auth",
                select="unauthorized_users_refused",
                test="test_unauthorized_users_refused",
                words=("'root'", "EG_UNAUTHORIZED_USERS is not enforced"),
            ),
        ),
    ),
    Fault(
        name="hub_no_identity",
        description="the hub does not pass KERNEL_USERNAME to the user servers",
        symptom="the kernel lacks the hub user's `KERNEL_USERNAME`",
        hub_settings={"kernel_username": None},
        caught_by=(
            Catch(
                suite="auth",
                select="carries_hub_user_name",
                test="test_kernel_carries_hub_user_name",
                words=("KERNEL_USERNAME",),
            ),
        ),
    ),
    Fault(
        name="hub_fixed_identity",
        description="the hub sets KERNEL_USERNAME=jovyan for every user (EG #661)",
        symptom="every user's kernel runs as `jovyan` (EG #661)",
        hub_settings={"kernel_username": "jovyan"},
        caught_by=(
            Catch(
                suite="auth",
                select="carries_hub_user_name",
                test="test_kernel_carries_hub_user_name",
                words=("KERNEL_USERNAME='jovyan'", "does not pass the user's identity"),
            ),
        ),
    ),
    Fault(
        name="profile_not_gateway",
        description=(
            "the hub profile misspells jupyter_gateway_url, so user servers are not in gateway mode"
        ),
        symptom="the user server starts kernels locally (misspelt override key)",
        # KubeSpawner silently ignores an unknown override key, as ProfileSpawner does.
        hub_settings={"gateway_url_key": "gateway_url"},
        caught_by=(
            Catch(
                suite="startup",
                select="through_hub",
                test="test_user_server_kernel_runs_on_gateway",
                words=("unknown to the gateway", "not in gateway mode"),
            ),
            Catch(
                suite="browser",
                select="user_journey_in_lab",
                test="test_user_journey_in_lab",
                words=("'launcher'", "lists local kernels", "not in gateway mode"),
                variant="browser",
            ),
        ),
    ),
    Fault(
        name="gateway_ws_drops_binary",
        description=(
            "a proxy in front of the gateway drops binary WebSocket frames (both directions)"
        ),
        symptom="a proxy in front of EG drops binary frames, so v1 and buffers die",
        proxy_mode="drop-binary",
        caught_by=(
            Catch(
                suite="websocket",
                select="negotiated_protocol_works and gateway and v1",
                test="test_negotiated_protocol_works",
                words=("binary WebSocket frames are not getting through",),
            ),
        ),
    ),
    Fault(
        name="gateway_ws_drops_frames",
        description=(
            "a proxy in front of the gateway drops a run of 60 output (stream) messages "
            "on every WebSocket connection"
        ),
        symptom="outputs vanish mid-stream while the client keeps up: a loss, not a slow run",
        proxy_mode="drop-frames",
        caught_by=(
            Catch(
                suite="websocket",
                select="many_small and gateway and v1",
                test="test_many_small_outputs_in_order",
                words=("outputs lost on gateway", "never arrived"),
            ),
        ),
    ),
    Fault(
        name="gateway_ws_refuses_upgrade",
        description="a proxy in front of the gateway refuses WebSocket upgrades",
        symptom="a proxy in front of EG refuses the WebSocket upgrade",
        proxy_mode="refuse-upgrade",
        caught_by=(
            Catch(
                suite="websocket",
                select="negotiated_protocol_works and gateway and nothing",
                test="test_negotiated_protocol_works",
                words=("handshake", "refused with HTTP 403"),
            ),
        ),
    ),
    Fault(
        name="gateway_ws_hangs_on_garbage",
        description=(
            "a proxy in front of the gateway stalls a WebSocket once a client sends a text frame "
            "that is not JSON: it neither relays nor closes"
        ),
        symptom="a proxy in front of EG leaves a socket hanging after a malformed frame",
        proxy_mode="hang-on-garbage",
        caught_by=(
            Catch(
                suite="abuse",
                select="bad_input_is_refused_clearly and gateway-ws-text-not-json",
                test="test_bad_input_is_refused_clearly",
                words=("no answer and no close within", "a hang"),
            ),
        ),
    ),
    Fault(
        name="gateway_max_kernels",
        description="the gateway allows at most 2 kernels (EG_MAX_KERNELS=2)",
        symptom="a storm of 3 meets EG_MAX_KERNELS=2 and must report errors, never pass",
        gateway_env={"EG_MAX_KERNELS": "2"},
        caught_by=(
            Catch(
                suite="throughput",
                select="storm_reaches",
                test="test_storm_reaches_first_execute_for_every_user",
                # EG answers the excess with 403, or with its 500 race (see test_limits.py).
                words=("start_kernel: HTTP", "journeys reached their first execute"),
            ),
        ),
    ),
    Fault(
        name="gateway_limit_unset",
        description="a gateway meant to enforce kernel limits starts without them",
        symptom="the gateway meant to enforce kernel limits has none, so a storm gets 6 kernels",
        limits_unset=True,
        caught_by=(
            Catch(
                suite="throughput",
                select="max_kernels_limit_holds",
                test="test_max_kernels_limit_holds_in_a_storm",
                words=("kernels accepted with a limit of 2",),
            ),
            Catch(
                suite="throughput",
                select="per_user_limit",
                test="test_per_user_limit_refuses_only_that_user",
                words=("a user over the per-user limit got: accepted",),
                variant="per_user",
            ),
        ),
    ),
    Fault(
        name="gateway_socket_timeout_zero",
        description=(
            "EG_SOCKET_TIMEOUT=0, the tempting cure for EG 3.3's held event loop: the response "
            "socket stops blocking, but EG's connect to each kernel's launcher (interrupts, "
            "shutdowns through its comm port on Kubernetes) stops waiting too"
        ),
        symptom=(
            "the held-loop record no longer holds: its strict xfail passes, so the run fails "
            "until the record is updated (the scenario tells a held loop from a free one)"
        ),
        gateway_env={"EG_SOCKET_TIMEOUT": "0"},
        caught_by=(
            Catch(
                suite="throughput",
                select="remote_launch_does_not_hold",
                test="test_remote_launch_does_not_hold_the_gateway_loop",
                words=("XPASS(strict)", "ResponseManager"),
            ),
        ),
    ),
    Fault(
        name="gateway_slow_start",
        description="every python3 kernel is held 1.5 s before it starts (a slow launcher)",
        symptom=(
            "python3 kernel starts are held 1.5 s; a repeated bench against a normal repeated "
            "baseline must fail the noise-aware gate"
        ),
        kernelspec_patches=(
            KernelspecPatch(
                kernelspec="python3",
                after="{gateway_python}",
                insert=("{launchers}/slow_start.py", "1.5", "{gateway_python}"),
            ),
        ),
        caught_by=(
            # Not a suite: `eg-harness gate` against a normal baseline (tests/selftest).
            Catch(
                suite="gate",
                select="gate_fails_a_held_start",
                test="test_gate_fails_a_held_start_and_passes_two_normal_runs",
                words=("REGRESSION", "time to first execute"),
            ),
        ),
    ),
    Fault(
        name="kernelspec_evaluates_env",
        description=(
            "the remote-launch kernelspec's launcher writes KERNEL_* values into a shell command "
            '(sh -c "echo ... $VALUE"), so a value with $( ) runs before the kernel starts'
        ),
        symptom="a KERNEL_* value holding `$(touch FILE)` creates FILE at kernel launch",
        kernelspec_patches=(
            KernelspecPatch(
                kernelspec="python3_launcher",
                after="{gateway_python}",
                insert=("{launchers}/shell_evaluates_env.py", "{gateway_python}"),
            ),
        ),
        caught_by=(
            Catch(
                suite="abuse",
                select="test_kernel_env_injection_is_inert and remote-launch-shell-subst",
                test="test_kernel_env_injection_is_inert",
                words=("$( ) command substitution", "the payload ran: canary", "egh-canary-"),
            ),
        ),
    ),
    Fault(
        name="spark_ignores_memory",
        description=(
            "the Spark kernelspec's run script drops KERNEL_MEMORY, so drivers get Spark's "
            "default heap"
        ),
        symptom=(
            "the Spark run script drops `KERNEL_MEMORY`, so drivers get Spark's default 1 GiB heap"
        ),
        kernelspec_patches=(
            KernelspecPatch(
                kernelspec="spark_python_local",
                after="{launchers}/run_spark.py",
                insert=("--ignore-kernel-memory",),
            ),
        ),
        caught_by=(
            Catch(
                suite="spark",
                select="kernel_env_reaches_the_driver",
                test="test_kernel_env_reaches_the_driver",
                words=("driver heap is 1024 MiB", "expected 2048 MiB from driver memory 2g"),
            ),
            Catch(
                suite="spark",
                select="notebook_code_cannot_resize",
                test="test_notebook_code_cannot_resize_the_driver",
                words=("driver heap is 1024 MiB, expected 2048 MiB",),
                variant="notebook",
            ),
            Catch(
                suite="spark",
                select="follow_egs_order",
                test="test_resource_options_follow_egs_order",
                words=("does not apply EG's option order", "spark.driver.memory is"),
                variant="order",
            ),
            Catch(
                suite="spark",
                select="bad_memory_fails_clearly_at_the_gateway",
                test="test_bad_memory_fails_clearly_at_the_gateway",
                words=("KERNEL_MEMORY=2Gi", "started a kernel"),
                variant="bad_values",
            ),
        ),
    ),
    Fault(
        name="gateway_no_restarter",
        description="the gateway does not restart kernels that die (KernelManager.autorestart off)",
        symptom="a killed kernel is never restarted: iopub says nothing, the user's kernel is gone",
        gateway_config={"KernelManager.autorestart": False},
        caught_by=(
            Catch(
                suite="resilience",
                select="killed_kernel_is_restarted and python3 and not launcher",
                test="test_killed_kernel_is_restarted_under_its_id",
                words=("was killed and the gateway said nothing", "restarter"),
            ),
        ),
    ),
    Fault(
        name="gateway_drops_sigterm",
        description=(
            "the gateway runs under an entrypoint that does not pass SIGTERM on (a shell as the "
            "container's PID 1), so a rolling update kills it before it shuts kernels down"
        ),
        symptom="a gateway SIGTERM leaves its remote kernels running, orphaned",
        gateway_argv_prefix=("{gateway_python}", "{launchers}/entrypoint_drops_sigterm.py"),
        caught_by=(
            Catch(
                suite="resilience",
                select="gateway_sigterm_shuts",
                test="test_gateway_sigterm_shuts_its_kernels_down",
                words=("orphaned by a gateway SIGTERM",),
            ),
        ),
    ),
    Fault(
        name="hub_kills_servers",
        description=(
            "the hub kills user servers on stop without a grace period (KubeSpawner's "
            "delete_grace_period 0), so they cannot shut their kernels down"
        ),
        symptom="a stopped user server leaves its kernels running on the gateway",
        hub_settings={"delete_grace_period": 0},
        caught_by=(
            # Seen as an operator sees their deployment: the lifecycle scenario needs only the
            # harness's own user, server and kernels, so it runs (and must fail) there too.
            Catch(
                suite="resilience",
                select="stopped_server_leaves_no_kernel",
                test="test_stopped_server_leaves_no_kernel_on_the_gateway",
                words=("outlived", "stopped server on the gateway", "delete_grace_period"),
                target="existing",
            ),
            Catch(
                suite="resilience",
                select="my_kernel_after_my_server_restarts",
                test="test_my_kernel_after_my_server_restarts",
                words=("outlived", "server across its restart", "through the restarted server"),
                variant="restart",
                target="existing",
            ),
        ),
    ),
    Fault(
        name="gateway_never_culls",
        description=(
            "the gateway culls nothing although the deployment means it to (its culling lost: "
            "EG_CULL_IDLE_TIMEOUT not reaching EG, so EG's default 0), so idle kernels and those "
            "a killed user server left run until someone deletes them"
        ),
        symptom="an idle, disconnected kernel outlives the gateway's stated cull_idle_timeout",
        gateway_config={"RemoteMappingKernelManager.cull_idle_timeout": 0},
        caught_by=(
            # The deployment's config states the culling it means (the twin's culling of
            # 5 s every 1 s); the gateway was told otherwise.
            Catch(
                suite="resilience",
                select="idle_kernel_is_culled_at_the_gateways_timeout",
                test="test_my_idle_kernel_is_culled_at_the_gateways_timeout",
                words=("idle and disconnected, still runs", "EG_CULL_IDLE_TIMEOUT"),
                target="existing",
            ),
        ),
    ),
    Fault(
        name="gateway_culls_connected",
        description=(
            "the gateway culls idle kernels even while a client is connected (cull_connected "
            "on), so a user who leaves a notebook open loses the kernel"
        ),
        symptom="an idle kernel with a user connected is culled",
        gateway_config={"RemoteMappingKernelManager.cull_connected": True},
        caught_by=(
            Catch(
                suite="resilience",
                select="idle_disconnected_kernel_is_culled",
                test="test_idle_disconnected_kernel_is_culled_connected_one_kept",
                words=("with a client connected was culled", "cull_connected"),
            ),
        ),
    ),
    Fault(
        name="hub_skips_upgrade_db",
        description=(
            "the operator starts JupyterHub B on A's database without `jupyterhub upgrade-db`"
        ),
        symptom="JupyterHub 6 refuses the 5.x database, so the upgrade's hub step cannot finish",
        operator_skips=("upgrade-db",),
        caught_by=(
            Catch(
                suite="upgrade",
                select="upgrade_keeps_users_working",
                test="test_upgrade_keeps_users_working",
                # Hub B's own reason does not always reach its log under load (seen twice).
                words=("the hub step could not be completed",),
            ),
        ),
    ),
    Fault(
        name="kernel_pod_no_memory_request",
        description=(
            "the kernel pod template (kernel-pod.yaml.j2 in the kernelspecs image) drops the "
            "memory request, so KERNEL_MEMORY never reaches the pod"
        ),
        symptom=(
            "kernel pods lose the memory request `KERNEL_MEMORY` asked for (Kubernetes then "
            "requests the limit, or nothing)"
        ),
        kernel_pod_template_drops=("memory: {{ kernel_memory | yaml_safe }}",),
        targets=("node",),
        caught_by=(
            Catch(
                suite="kubernetes",
                select="kernel_pod_resources_match_the_start",
                test="test_kernel_pod_resources_match_the_start",
                # With KERNEL_MEMORY_LIMIT set, the API server fills the missing request in
                # from the limit (seen on the node cluster: 512Mi where 256Mi was asked).
                words=("requests.memory", "from KERNEL_MEMORY"),
            ),
        ),
    ),
    Fault(
        name="gateway_cannot_create_pods",
        description=(
            "the gateway's service account lacks the right to create pods (its ClusterRole "
            "without `create pods`), so no kernel pod can be made"
        ),
        symptom="every kernel start fails; the failure names the RBAC right the gateway lacks",
        gateway_role_revokes=("create pods",),
        targets=("node",),
        caught_by=(
            Catch(
                suite="startup",
                select="each_kernelspec_starts_and_executes",
                test="test_each_kernelspec_starts_and_executes",
                words=("RBAC", "may not create pods"),
            ),
        ),
    ),
    Fault(
        name="gateway_cannot_delete_kernel_namespaces",
        description=(
            "kernel cleanup is off for the namespaces EG makes per kernel: the gateway's "
            "ClusterRole lacks `delete namespaces` (EG 3.3 has no values switch for cleanup; a "
            "values file with global.rbac false and a hand-written role does this), so every "
            "shut-down kernel leaves its namespace and RoleBinding. Taking `delete pods` instead "
            "breaks every start, not the cleanup: RBAC refuses EG the RoleBinding to "
            "kernel-controller, whose rights it would no longer hold (seen on the node cluster)"
        ),
        symptom=(
            "a shut-down kernel's namespace stays; the failure names the right the gateway lacks"
        ),
        gateway_role_revokes=("delete namespaces",),
        targets=("node",),
        caught_by=(
            Catch(
                suite="kubernetes",
                select="gateway_kernel_is_a_pod_in_its_namespace_and_gone_after_shutdown",
                test="test_gateway_kernel_is_a_pod_in_its_namespace_and_gone_after_shutdown",
                words=("still there after shutdown", "may not delete namespaces"),
            ),
        ),
    ),
    Fault(
        name="hub_profile_no_gateway_url",
        description=(
            "the hub's jupyter-gateway profile has no gateway URL (its kubespawner_override "
            "without jupyter_gateway_url), so user pods run kernels locally"
        ),
        symptom="user servers offer their own kernelspecs and start kernels in the user pod",
        hub_profile_unsets=("jupyter_gateway_url",),
        targets=("node",),
        caught_by=(
            Catch(
                suite="startup",
                select="user_server_offers_gateway_kernelspecs",
                test="test_user_server_offers_gateway_kernelspecs",
                words=("not in gateway mode",),
            ),
        ),
    ),
    Fault(
        name="spark_kernelspec_drops_driver_memory",
        description=(
            "the Spark kernelspec's launcher (spark_python_kubernetes/scripts/"
            "launch_kubernetes.py) no longer passes the pod's memory on as spark.driver.memory, "
            "so the profile's driver memory never reaches spark-submit"
        ),
        symptom="Spark drivers get Spark's default memory whatever the profile chose",
        kernelspec_file_drops=(
            KernelspecFileDrop(
                path="spark_python_kubernetes/scripts/launch_kubernetes.py",
                lines=(
                    'f"--conf spark.driver.memory={memory_request} "',
                    'f"--conf spark.driver.memory={memory_limit} "',
                ),
            ),
        ),
        targets=("node",),
        caught_by=(
            Catch(
                suite="spark",
                select="profile_choices_reach_the_driver",
                test="test_profile_choices_reach_the_driver",
                words=("spark.driver.memory is None",),
            ),
        ),
    ),
    Fault(
        name="hub_form_drops_memory",
        description=(
            "the hub's spawn form template leaves out the profile's driver-memory choice (the "
            "profile still has it: only API callers can set it)"
        ),
        symptom="the spawn form offers no driver memory: a user cannot pick or type a size",
        hub_settings={"form_hidden_options": ["driver_memory"]},
        caught_by=(
            Catch(
                suite="browser",
                select="user_journey_in_lab",
                test="test_user_journey_in_lab",
                words=("'spawn_form'", "missing the choice of Driver memory"),
            ),
        ),
    ),
    Fault(
        name="gateway_refuses_kernelspecs",
        description=(
            "a proxy in front of the gateway refuses GET /api/kernelspecs (the list), so user "
            "servers cannot list the gateway's kernelspecs"
        ),
        symptom="JupyterLab's Launcher is empty: users cannot open a notebook",
        proxy_mode="refuse-kernelspecs",
        caught_by=(
            Catch(
                suite="browser",
                select="user_journey_in_lab",
                test="test_user_journey_in_lab",
                words=("'launcher'", "lists no kernelspecs"),
            ),
        ),
    ),
)
FAULTS: dict[str, Fault] = {f.name: f for f in CATALOGUE}
LOCAL_FAULTS: tuple[Fault, ...] = tuple(f for f in CATALOGUE if "local" in f.targets)


def resolve(names, target: str = "local") -> list[Fault]:
    """The records for the names a user gave, refusing unknown names, faults `target` cannot
    seed and faults that clash."""
    unknown = sorted(set(names) - set(FAULTS))
    if unknown:
        raise ConfigError(
            f"unknown local fault {unknown[0]!r}: choose from {', '.join(sorted(FAULTS))} "
            "(see `eg-harness faults`)"
        )
    chosen = [FAULTS[n] for n in sorted(set(names))]
    for fault in chosen:
        if target not in fault.targets:
            raise ConfigError(
                f"fault {fault.name!r} cannot be seeded into the {target} target (only "
                f"{', '.join(fault.targets)}): use --target {fault.targets[0]} or drop it"
            )
    seen: dict[tuple[str, str], tuple[str, object]] = {}
    for fault in chosen:
        settings = [
            *((("gateway env", k), v) for k, v in fault.gateway_env.items()),
            *((("gateway config", k), v) for k, v in fault.gateway_config.items()),
            *((("hub setting", k), v) for k, v in fault.hub_settings.items()),
            *([(("proxy", "mode"), fault.proxy_mode)] if fault.proxy_mode else []),
        ]
        for key, value in settings:
            other = seen.setdefault(key, (fault.name, value))
            if other[1] != value:
                raise ConfigError(
                    f"local faults {other[0]!r} and {fault.name!r} both set {key[0]} {key[1]}: "
                    "seed one of them per run"
                )
    return chosen


def markdown_table() -> str:
    """The table of docs/faults.md (a unit test keeps the two equal)."""
    rows = ["| fault | the suite that must catch it |", "|---|---|"]
    rows += [f"| `{f.name}` | {f.suite}: {f.symptom}{_on(f)} |" for f in CATALOGUE]
    return "\n".join(rows)


def _on(fault: Fault) -> str:
    return "" if fault.targets == ("local",) else f" (--target {', '.join(fault.targets)})"


def plain_listing() -> str:
    width = max(len(f.name) for f in CATALOGUE)
    return "\n".join(f"{f.name:{width}}  {f.suite:10}  {f.description}{_on(f)}" for f in CATALOGUE)
