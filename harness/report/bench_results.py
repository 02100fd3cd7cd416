"""The typed load results a ``results.json`` carries: a bench's levels (``throughput``), a
workload's session and objectives (``throughput`` too), ``bench-ws --sessions`` (``sessions``)
and a suite's machinery checks (``load_runs``), each with its own ``figures()`` (what a
baseline stores, the gate and the run diff compare) and ``samples()`` (a figure repeat by
repeat: its noise).

Beside the results model (the same layer) because ``Results`` types its fields with them and
every reader, the gate and the diff among them, reads them without reaching up into the
benchmark that produced them.

Documents written before these types (results.json, bench.json, baselines) still load: the
fields a later harness added have defaults, keys a model does not name are kept, and a
document dumps as it was given (``_AsGiven``): a default a producer never set is not written
back, so re-reading and re-writing an older report changes no figure and adds no key.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    TypeAdapter,
    model_serializer,
)

BENCH_SCHEMA = "eg-harness-bench/1"  # a bench's (or a workload's) own document, bench.json
BASELINE_SCHEMA = "eg-harness-baseline/1"  # a baseline file: its figures, per_repeat optional

# The comparable figures of one level, in the order a baseline writes them.
FIGURE_KEYS = (
    "p95_ttfe_s",
    "p50_ttfe_s",
    "starts_per_s",
    "error_rate",
    "machine_slowdown",
    "p50_ttfe_adjusted_s",
)
# Figures a level always has: a level without a value for them counted none (0.0).
ZERO_WHEN_ABSENT = frozenset({"starts_per_s", "error_rate"})


class _AsGiven(BaseModel):
    """Open (keys a model does not name are kept) and written back as it was read."""

    model_config = ConfigDict(extra="allow")

    # No return annotation: the published schema keeps the model's own properties.
    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler):  # noqa: ANN202
        data = handler(self)
        fields = type(self).model_fields
        given = {fields[n].alias or n for n in self.model_fields_set if n in fields}
        return {k: v for k, v in data.items() if k in given or k in (self.model_extra or {})}


class Percentiles(_AsGiven):
    """Seconds (or cells, sessions) at p50/p95/p99/max over ``count`` values; ``None``: none."""

    p50: float | None = None
    p95: float | None = None
    p99: float | None = None
    max: float | None = None
    count: int = 0


class LatencyMs(_AsGiven):
    """Execute latencies of ``bench-ws --sessions``, in milliseconds."""

    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    count: int = 0


class Generator(_AsGiven):
    """Whether the load generator kept up (its busiest process against a CPU limit)."""

    valid: bool = True
    busiest_process_cores: float | None = None
    limit_cores: float | None = None


class Spawns(_AsGiven):
    """A hub storm's spawns against the hub's concurrent_spawn_limit."""

    limit: int | None = None
    max_in_flight: int = 0
    accepted: int = 0
    throttled: int = 0
    respected: bool | None = None


class LevelFigures(_AsGiven):
    """One level's comparable figures, with each repeat's when the bench was repeated."""

    p95_ttfe_s: float | None = None
    p50_ttfe_s: float | None = None
    starts_per_s: float | None = None
    error_rate: float | None = None
    machine_slowdown: float | None = None
    # The time as if the machine had been idle: the gate's figure that moves with the
    # deployment rather than with the neighbours' load.
    p50_ttfe_adjusted_s: float | None = None
    per_repeat: dict[str, list[float | None]] | None = None

    def samples(self, key: str) -> list[float]:
        """The figure repeat by repeat; a level without repeats gives its one figure."""
        per = (self.per_repeat or {}).get(key)
        if per:
            return [float(v) for v in per if v is not None]
        v = getattr(self, key, None)
        if v is None and key in ZERO_WHEN_ABSENT:
            v = 0.0
        return [] if v is None else [float(v)]


class BenchFigures(_AsGiven):
    """A bench's comparable figures: what a baseline file stores, what the gate and the run
    diff compare level by level (storms by their concurrency, as text)."""

    storms: dict[str, LevelFigures] = Field(default_factory=dict)
    churn: LevelFigures | None = None
    valid: bool = True
    repeats: int = 1

    def levels(self) -> dict[str, LevelFigures]:
        """Level name ("storm 5", "churn") -> its figures, storms by rising concurrency."""
        out = {f"storm {k}": v for k, v in sorted(self.storms.items(), key=lambda kv: int(kv[0]))}
        if self.churn is not None:
            out["churn"] = self.churn
        return out


class PortRace(_AsGiven):
    """Journeys that failed on a kernel the gateway's log shows dying in EG's port race."""

    journeys: int = 0
    kernels: list[str] = Field(default_factory=list)


class HistoryEntry(_AsGiven):
    """One line of a bench history file (``bench --history``): a run's comparable figures."""

    run_id: str
    started_at: str | None = None
    figures: BenchFigures
    versions: dict[str, str] = Field(default_factory=dict)


class ClusterUsage(_AsGiven):
    """A cluster on this machine through one step (load/clustercost.py): its processes' CPU and
    peak memory by component (etcd, apiserver, ..., kubelet, containerd, shims, pods)."""

    source: str = ""  # how it was measured
    window_s: float | None = None
    samples: int = 0
    cpu_s: float | None = None
    cpu_cores_mean: float | None = None
    cpu_s_by_group: dict[str, float] = Field(default_factory=dict)
    rss_mib_peak: float | None = None
    rss_mib_peak_by_group: dict[str, float] = Field(default_factory=dict)
    processes_peak: int = 0


class Level(_AsGiven):
    """One storm's or churn's summary (load/summary.summarise; pooled over repeats by
    summary.pool, which adds ``repeats`` and ``per_repeat``)."""

    mode: str = "storm"  # storm, churn, or a workload's session: workload
    concurrency: int
    journeys: int = 0
    ok: int = 0
    failed: int = 0
    error_rate: float = 0.0
    errors: dict[str, int] = Field(default_factory=dict)
    error_examples: dict[str, str] = Field(default_factory=dict)
    journeys_with_errors: int = 0
    time_to_first_execute_s: Percentiles = Field(default_factory=Percentiles)
    # The raw times, so a gate or a diff can bootstrap intervals from the run itself.
    ttfe_samples_s: list[float] = Field(default_factory=list)
    phases_s: dict[str, Percentiles] = Field(default_factory=dict)
    makespan_s: float | None = None
    starts_per_s: float = 0.0
    target_cpu_s: float | None = None
    target_cpu_by_group_s: dict[str, float] | None = None
    cpu_s_per_start: float | None = None
    ceiling_starts_per_s: float | None = None
    ceiling_fraction: float | None = None
    generator: Generator = Field(default_factory=Generator)
    # How much slower than an idle core CPU work ran during this step (cpu.ContentionProbe).
    machine_slowdown: float | None = None
    valid: bool = True
    notes: list[str] = Field(default_factory=list)
    wall_s: float | None = None
    out_dir: str = ""
    repeats: int | None = None  # pooled levels: how many repeats they fold
    per_repeat: dict[str, list[float | None]] | None = None
    spawns: Spawns | None = None  # hub journeys
    port_race: PortRace | None = None  # local launches: counted apart with their cause
    errors_port_race: dict[str, int] | None = None  # the errors of those journeys, by kind
    cluster: ClusterUsage | None = None  # a cluster on this machine (the node target)

    def unexplained_errors(self) -> dict[str, int]:
        """Error counts less those of journeys that died in EG's port race."""
        excused = self.errors_port_race or {}
        left = {k: v - excused.get(k, 0) for k, v in self.errors.items()}
        return {k: v for k, v in left.items() if v > 0}

    @property
    def race_journeys(self) -> int:
        return self.port_race.journeys if self.port_race else 0

    def figures(self) -> LevelFigures:
        """The comparable subset: what a baseline stores and the gate compares."""
        p50 = self.time_to_first_execute_s.p50
        slow = self.machine_slowdown
        figs = LevelFigures(
            p95_ttfe_s=self.time_to_first_execute_s.p95,
            p50_ttfe_s=p50,
            starts_per_s=self.starts_per_s,
            error_rate=self.error_rate,
            machine_slowdown=slow,
            p50_ttfe_adjusted_s=round(p50 / slow, 4) if p50 is not None and slow else None,
        )
        if self.per_repeat:
            figs.per_repeat = self.per_repeat
        return figs

    def samples(self, key: str) -> list[float]:
        """A comparable figure repeat by repeat (one figure without repeats)."""
        return self.figures().samples(key)

    @property
    def level_name(self) -> str:
        return f"storm {self.concurrency}" if self.mode == "storm" else "churn"


class Knee(_AsGiven):
    concurrency: int | None = None
    reason: str = ""


class Ceiling(_AsGiven):
    """CPU cost of a start and the fraction of the machine's best rate reached."""

    measured: bool = False
    reason: str | None = None  # when not measured
    cpu_s_per_start: float | None = None
    ceiling_starts_per_s: float | None = None
    best_starts_per_s: float | None = None
    best_fraction: float | None = None
    best_at: str | None = None


class _LoadDocument(_AsGiven):
    """What every bench document has: levels, validity and the machine."""

    schema_: str = Field(BENCH_SCHEMA, alias="schema")
    machine: dict[str, int | float] = Field(default_factory=dict)
    target: dict[str, Any] = Field(default_factory=dict)
    storms: list[Level] = Field(default_factory=list)
    churn: Level | None = None
    valid: bool = True
    invalid_reasons: list[str] = Field(default_factory=list)
    repeats: int = 1
    started_at: str | None = None
    finished_at: str | None = None
    duration_s: float | None = None
    cleanup: dict[str, list[str | int]] | None = None
    model_config = ConfigDict(extra="allow", populate_by_name=True, serialize_by_alias=True)

    def levels(self) -> list[Level]:
        return [*self.storms, *([self.churn] if self.churn else [])]

    def figures(self) -> BenchFigures:
        """The comparable subset: what baselines store and gates compare, with each level's
        per-repeat figures when the bench was repeated (its noise)."""
        figs = BenchFigures(
            storms={str(s.concurrency): s.figures() for s in self.storms},
            valid=self.valid,
            repeats=self.repeats,
        )
        if self.churn is not None:
            figs.churn = self.churn.figures()
        return figs

    def samples(self, level: str, key: str) -> list[float]:
        """One level's figure ("storm 5", "churn") repeat by repeat; none when it did not run."""
        found = self.figures().levels().get(level)
        return [] if found is None else found.samples(key)


class BenchThroughput(_LoadDocument):
    """`eg-harness bench`: a ladder of storms, a churn, the knee and the ceiling."""

    settings: dict[str, Any] = Field(default_factory=dict)  # load/plan.BenchSettings, as data
    knee: Knee = Field(default_factory=Knee)
    ceiling: Ceiling = Field(default_factory=Ceiling)
    rounds: list[list[Level]] | None = None  # --repeat: each round's levels before pooling
    # The published schema tells the two shapes apart the way the model does.
    model_config = ConfigDict(json_schema_extra={"not": {"required": ["workload"]}})


class Objective(_AsGiven):
    """A workload objective's verdict (load/workload.Verdict as data)."""

    metric: str
    label: str = ""
    limit: str = ""
    measured: float | None = None
    low: float | None = None
    high: float | None = None
    n: int = 0
    met: bool
    sure: str = ""
    text: str = ""


class WorkloadThroughput(_LoadDocument):
    """`eg-harness bench --workload`: one session of arrivals judged against objectives."""

    workload: dict[str, Any]  # load/workload.Workload, as data
    session: Level
    cell_latency_s: Percentiles = Field(default_factory=Percentiles)
    orphan_kernels: int | None = None
    objectives: list[Objective] = Field(default_factory=list)


def _throughput_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "workload" if "workload" in value else "bench"
    return "workload" if isinstance(value, WorkloadThroughput) else "bench"


# The two shapes ``throughput`` holds, told apart by the workload's own section.
Throughput = Annotated[
    Annotated[BenchThroughput, Tag("bench")] | Annotated[WorkloadThroughput, Tag("workload")],
    Discriminator(_throughput_kind),
]


THROUGHPUT: TypeAdapter[Throughput] = TypeAdapter(Throughput)


def read_throughput(data: object) -> BenchThroughput | WorkloadThroughput:
    """A ``throughput`` section or a bench.json, of either shape, validated."""
    return THROUGHPUT.validate_python(data)


class Broke(_AsGiven):
    """When and why a gateway stopped accepting sessions."""

    at: str
    sessions_held: int = 0
    kernels: int = 0
    cause: str = ""


class SessionGateway(_AsGiven):
    url: str
    kernels: int = 0
    sessions_held: int = 0
    broke: Broke | None = None


class ReplacedKernel(_AsGiven):
    """A kernel that never answered and was replaced; ``port_race``: the gateway's log shows
    it dying in EG's port race (a known upstream defect of local launches)."""

    kernel_id: str
    gateway: str = ""
    cause: str = ""
    port_race: bool | None = None


class SessionsGenerator(_AsGiven):
    """The asyncio generator's own load: its verdict on the latencies it measured."""

    valid: bool = True
    cores: float = 0.0
    limit_cores: float | None = None
    loop_lag_p95_ms: float | None = None
    reasons: list[str] = Field(default_factory=list)
    pinned_core: int | None = None


class Window(_AsGiven):
    start_s: float
    end_s: float


class TimelinePoint(_AsGiven):
    """One second of a sessions bench: sessions alive, executes answered, their p95."""

    t: float
    sessions: int = 0
    executes: int = 0
    p95_ms: float | None = None
    errors: int = 0


class Sessions(_AsGiven):
    """`eg-harness bench-ws --sessions`: many WebSocket sessions from one process."""

    settings: dict[str, Any] = Field(default_factory=dict)  # load/sessions.SessionsSettings
    t0_epoch: float | None = None
    sessions_requested: int
    sessions_held: int
    sessions_alive_at_end: int = 0
    kernels_started: int = 0
    gateways: list[SessionGateway] = Field(default_factory=list)
    baseline: LatencyMs = Field(default_factory=LatencyMs)
    latency: LatencyMs = Field(default_factory=LatencyMs)
    idle_latency: LatencyMs | None = None
    ratio: dict[str, float | None] = Field(default_factory=dict)  # under load / alone
    executes: int = 0
    executes_per_s: float = 0.0
    frames_received: int = 0
    frames_per_s: float = 0.0
    frames_decoded: int = 0
    errors: dict[str, int] = Field(default_factory=dict)
    error_examples: dict[str, str] = Field(default_factory=dict)
    kernels_replaced: list[ReplacedKernel] = Field(default_factory=list)
    # Held sessions whose opening kernel_info's idle status had not arrived with its reply
    # (jupyter_server 1.24 does not nudge a busy kernel's new iopub subscription).
    first_idle_missed: int = 0
    generator: SessionsGenerator = Field(default_factory=SessionsGenerator)
    window: Window | None = None
    timeline: list[TimelinePoint] = Field(default_factory=list)

    def figures(self) -> dict[str, float | None]:
        """The comparable figures of a sessions bench: how many it held, and the execute
        latency under load against alone."""
        return {
            "sessions_held": float(self.sessions_held),
            "held_fraction": (
                round(self.sessions_held / self.sessions_requested, 4)
                if self.sessions_requested
                else None
            ),
            "p50_latency_ms": self.latency.p50_ms,
            "p95_latency_ms": self.latency.p95_ms,
            "p95_latency_ratio": self.ratio.get("p95"),
            "executes_per_s": self.executes_per_s,
        }

    def samples(self, key: str) -> list[float]:
        """A figure's samples: one run of a sessions bench is one measurement."""
        v = self.figures().get(key)
        return [] if v is None else [float(v)]


class Baseline(_AsGiven):
    """A saved baseline (``eg-harness gate --save-baseline``): a bench's figures and whence."""

    schema_: Literal["eg-harness-baseline/1"] = Field(BASELINE_SCHEMA, alias="schema")
    created_at: str | None = None
    source: str | None = None
    figures: BenchFigures
    model_config = ConfigDict(extra="allow", populate_by_name=True, serialize_by_alias=True)

    def model_post_init(self, context: Any, /) -> None:
        self.model_fields_set.add("schema_")  # a baseline always says what it is
