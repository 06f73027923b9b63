"""The typed task spec: everything a task says about itself, as frozen data."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

Direction = Literal["higher", "lower"]
"""Whether a larger value of a metric is better (`higher`) or worse (`lower`)."""

NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
"""Task and benchmark names: lower-case words joined by underscores."""

HIDDEN_FIELDS = frozenset({"evaluation"})
"""Spec fields that describe hidden evaluation data: never exported to an agent."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class DatasetSpec(_Frozen):
    """A dataset the task provides or the evaluator uses."""

    id: str = Field(min_length=1)
    """Hugging Face dataset id (``owner/name``), or ``bundled:<name>`` for data shipped with
    the product itself (starter files for agents, the evaluator's package for hidden data)."""
    config: str | None = None
    """Dataset configuration (subset) name, when the dataset has several."""
    revision: str | None = None
    """Git revision of the dataset on the Hub, when pinned."""
    splits: dict[str, int] = Field(default_factory=dict)
    """Row count per split, e.g. ``{"train": 1000000, "test": 10000}``."""
    columns: tuple[str, ...] = ()
    """Column names of each row."""
    description: str = ""
    """What the data are and how they are meant to be used."""


class Resources(_Frozen):
    """The compute an agent gets for one run of the task."""

    gpus: int = Field(ge=0)
    """Number of GPUs (0 for CPU-only tasks)."""
    gpu_type: str | None = None
    """GPU model the limits were set for, e.g. ``A100``."""
    gpu_memory_gb: float | None = Field(default=None, gt=0)
    """Memory per GPU in GB."""
    cpus: int | None = Field(default=None, gt=0)
    """CPU cores the container may use (None: not limited)."""
    ram_gb: float | None = Field(default=None, gt=0)
    """Host memory the container may use, in GB (None: not limited)."""
    disk_gb: float | None = Field(default=None, gt=0)
    """Scratch disk the agent may fill, in GB."""
    time_limit_s: int = Field(gt=0)
    """Wall-clock limit of the whole run, in seconds."""


class _Constraint(_Frozen):
    description: str = ""
    """The constraint in plain words, shown to the agent."""


class MaxMemoryConstraint(_Constraint):
    """The deliverable must run within this much memory."""

    kind: Literal["max_memory_gb"] = "max_memory_gb"
    """Discriminator."""
    limit_gb: float = Field(gt=0)
    """Peak memory allowed, in GB."""
    device: Literal["cpu", "gpu", "any"] = "any"
    """Which memory the limit applies to (host DRAM, GPU memory, or whichever runs the model)."""
    phase: Literal["inference", "training"] = "inference"
    """When the limit applies."""


class AllowedDtypesConstraint(_Constraint):
    """The deliverable's floating-point weights must use one of these dtypes."""

    kind: Literal["allowed_dtypes"] = "allowed_dtypes"
    """Discriminator."""
    dtypes: tuple[Literal["float32", "float16", "bfloat16"], ...] = Field(min_length=1)
    """Allowed torch dtype names."""


class NoQuantizationConstraint(_Constraint):
    """Quantized weights (int8, int4, GPTQ, AWQ, bitsandbytes ...) are rejected."""

    kind: Literal["no_quantization"] = "no_quantization"
    """Discriminator."""


class MaxParametersConstraint(_Constraint):
    """The deliverable may have at most this many parameters."""

    kind: Literal["max_parameters"] = "max_parameters"
    """Discriminator."""
    limit: int = Field(gt=0)
    """Largest total parameter count allowed."""


class MaxRuntimeConstraint(_Constraint):
    """A phase of the method must finish within this many seconds."""

    kind: Literal["max_runtime_s"] = "max_runtime_s"
    """Discriminator."""
    limit_s: int = Field(gt=0)
    """Seconds allowed."""
    phase: Literal["training", "inference", "merge_and_eval", "test_run"]
    """What the limit times."""


Constraint = Annotated[
    MaxMemoryConstraint
    | AllowedDtypesConstraint
    | NoQuantizationConstraint
    | MaxParametersConstraint
    | MaxRuntimeConstraint,
    Field(discriminator="kind"),
]
"""A machine-checkable constraint on what the agent delivers."""


class DeliverableSpec(_Frozen):
    """What the agent must leave in its output folder."""

    kind: Literal["hf_model", "predictions_csv", "method", "code"]
    """A Hugging Face model folder (or PEFT adapter), a CSV of predictions, method code, or a
    program (``code``: ``path`` names its entry file; the evaluator re-runs it)."""
    path: str = "model"
    """Where it goes, relative to the output folder (``/app/output``)."""
    columns: tuple[str, ...] = ()
    """CSV header, for ``predictions_csv``."""
    description: str
    """What exactly must be delivered."""

    @field_validator("path")
    @classmethod
    def _relative(cls, value: str) -> str:
        if value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"deliverable path {value!r} must be relative, inside the output")
        return value


class MetricSpec(_Frozen):
    """One number the evaluator computes for the task."""

    name: str = Field(pattern=NAME_PATTERN)
    """Key of the metric in the evaluator's metric registry (e.g. ``mmlu``, ``perplexity``)."""
    label: str
    """Name shown in tables, e.g. ``MMLU accuracy``."""
    direction: Direction
    """Whether higher or lower values are better."""
    unit: str = ""
    """Unit of the value (``accuracy``, ``tokens/s``, ``ms``, ``GB``, ...)."""
    params: dict[str, str | int | float | bool] = Field(default_factory=dict)
    """Settings the evaluator must use, pinned here so scores are comparable (lm-eval task
    name, few-shot count, batch size, dataset, stride ...)."""
    chance: float | None = None
    """Score of random guessing, for multiple-choice metrics (used when no reference exists)."""
    chance_measured: bool = False
    """The metric measures its chance level on the rows it scored (reported as its ``chance``
    detail) and that level is used; ``chance`` is then only the nominal level."""
    description: str = ""
    """How the metric is computed."""


class ScoreAnchors(_Frozen):
    """The two points a normalised score is measured against (baseline = 0, reference = 100)."""

    baseline: float | None = None
    """Raw primary-metric value of the task's baseline solution."""
    baseline_label: str = "baseline"
    """What the baseline is."""
    reference: float | None = None
    """Raw primary-metric value that counts as 100, e.g. the top human entry."""
    reference_label: str = "top human in competition"
    """What the reference is."""
    reference_improvement_pct: float | None = None
    """The reference's improvement over the baseline in % (100 * (ref - base) / |base|), when
    that is what the source publishes; with a known baseline it defines ``reference``."""
    baseline_is_chance: bool = False
    """The baseline is the primary metric's chance level: when the metric measures that level on
    the data it scored (e.g. SuperGLUE's ReCoRD), the measured level replaces ``baseline``."""
    source: str
    """Where the anchor values come from (paper, table, competition page)."""

    @model_validator(mode="after")
    def _distinct(self) -> ScoreAnchors:
        if (
            self.baseline is not None
            and self.reference is not None
            and self.baseline == self.reference
        ):
            raise ValueError("baseline and reference anchors must differ")
        if self.reference_improvement_pct == 0:
            raise ValueError("reference_improvement_pct must not be 0")
        return self

    @property
    def reference_value(self) -> float | None:
        """The reference, given directly or derived from the baseline and the improvement."""
        if self.reference is not None:
            return self.reference
        if self.baseline is not None and self.reference_improvement_pct is not None:
            return self.baseline + abs(self.baseline) * self.reference_improvement_pct / 100
        return None


class Decision(_Frozen):
    """A choice made where the public material contradicts itself, with its source."""

    topic: str
    """What was contradictory."""
    choice: str
    """What this spec uses."""
    source: str
    """The source the choice follows, and why."""


class BaselineCode(_Frozen):
    """The task's own baseline code, which the evaluator builds from the task's starter files and
    times beside the agent's code in the same evaluation, in the same sandbox, interleaved (see
    docs/code-deliverables.md, 'Timed scores')."""

    build: tuple[str, ...] = ()
    """Command run in the sandbox on a read-only copy of the starter files that writes the
    baseline's trained files into ``{output}`` (``("{python}", "train.py", "--out",
    "{output}/weights.npz")``); they join the starter copy. Empty: the starter as shipped is the
    baseline."""
    method: str | None = None
    """For method deliverables: the starter's method the baseline names in its
    ``submission.json``."""


class CodeRun(_Frozen):
    """How the evaluator re-runs a code deliverable in a sandbox (see docs/code-deliverables.md).

    Placeholders in ``command``: ``{python}`` (the sandbox's Python), ``{inputs}`` (the hidden
    test inputs, read-only), ``{output}`` (the only writable folder) and ``{method}`` (the method
    named in ``submission.json``, for method deliverables).
    """

    command: tuple[str, ...] = Field(min_length=1)
    """The command run in the work folder, e.g. ``("{python}", "main.py", "--data_dir",
    "{inputs}")``."""
    inputs: str = Field(min_length=1)
    """The hidden test inputs: ``bundled:<name>`` (shipped in the evaluator's package) or
    ``<dataset id>:<split>`` (under the evaluator's data folder). Labels are never among them."""
    output_file: str = Field(min_length=1)
    """What the run must write, relative to ``{output}`` (e.g. ``submission.csv``)."""
    pristine: str | None = None
    """``starter`` (the task's starter files) or an absolute folder inside ``image``: the
    pristine task folder the deliverable is laid over (method deliverables); None: the
    deliverable's folder is the work folder."""
    protected: tuple[str, ...] = ()
    """Files restored from the pristine copy before the run (evaluation code, constants)."""
    test_constants: str | None = None
    """The file that replaces ``constants.py`` for the test phase: ``bundled:<path>`` (in the
    evaluator's package) or a path relative to the evaluator's data folder."""
    scorer: tuple[str, ...] = ()
    """A scoring command run in ``image`` after the method, in a second sandbox that holds the
    pristine task folder, the method's output (``{output}``) and the labels (``{labels}``) but
    none of the agent's code; it prints ``{"score": x}`` as its last line. Empty: the evaluator
    scores the output itself with the task's metrics."""
    labels: str | None = None
    """Folder of the hidden labels for ``scorer``, relative to the evaluator's data folder."""
    method_file: str | None = None
    """Where the method's code is, relative to the work folder, for the simplicity count
    (``{method}`` allowed); None: ``main.py``."""
    image: str | None = None
    """Container image holding the task's environment; None: the evaluator's own Python."""
    time_limit_s: int = Field(gt=0)
    """Wall-clock limit of the re-run; a run that exceeds it gets no score."""
    memory_gb: float = Field(gt=0)
    """Memory the run may use."""
    gpus: int = Field(default=0, ge=0)
    """GPUs the run is given."""
    baseline_runtime_s: float | None = Field(default=None, gt=0)
    """Wall time of the baseline's re-run on the machine the anchors were measured on. With
    ``baseline`` it is the unit of every timed score: the agent's time is its measured ratio to
    the baseline's code times this, so the baseline scores its anchor on any machine."""
    baseline: BaselineCode | None = None
    """The task's baseline code, timed beside the agent's (needs ``baseline_runtime_s``); None:
    the agent's code is timed alone, and its time depends on the machine and its load."""
    baseline_statements: int | None = Field(default=None, gt=0)
    """``ast`` statement count of the baseline's method file, for the simplicity side metric."""
    baseline_source: str = ""
    """How the two baseline figures were measured."""

    @model_validator(mode="after")
    def _baseline_has_a_time(self) -> CodeRun:
        if self.baseline is not None and self.baseline_runtime_s is None:
            raise ValueError("code_run.baseline needs baseline_runtime_s (the unit of its times)")
        return self


class EvaluationSpec(_Frozen):
    """Hidden evaluation details: kept in the evaluator, never exported to an agent."""

    datasets: tuple[DatasetSpec, ...] = ()
    """Data the evaluator scores on; test splits and held-out text live here."""
    notes: str = ""
    """How the evaluator proceeds, for maintainers."""
    code_run: CodeRun | None = None
    """How to re-run a code deliverable; None for deliverables that are scored as files."""
    recipe: str | None = None
    """The repository script that writes this task's bundled hidden data (``bundled:`` sets in
    the evaluator's package), e.g. ``scripts/make_digit_tasks.py``; None where the hidden data
    come from the Hub. It stays in the repository, outside every package: with its seed and the
    public inputs it re-makes the hidden labels, so it is as secret as they are."""


class RunPolicy(_Frozen):
    """The run conditions a benchmark ranks: how an agent may reach the network and its model
    API, and what it may spend there. Declared per benchmark (``agent_tasks.catalogue``
    ``CONDITIONS``); a task may declare its own (``TaskSpec.run_policy``)."""

    networks: tuple[str, ...] = ()
    """Agent container network modes a ranked run may have had (``none``: no network, the
    model API only through the harness's proxy). A local run (no container, this machine's
    network) meets only an empty tuple: any."""
    credentials: tuple[Literal["proxy", "direct"], ...] = ()
    """How a ranked run's agent may have reached its model API (``proxy``: a per-run token,
    calls recorded and held to the budget; ``direct``: the real key). A run with no model API
    meets any; empty: any."""
    max_budget_usd: float | None = Field(default=None, gt=0)
    """The largest model-API cost budget (``--budget-usd``) a ranked run with a model API may
    have had; a run with none is unlimited and is not ranked. None: any budget, none included."""
    source: str = ""
    """Where the policy comes from (the benchmark's paper, or why it is open)."""


ANY_RUN = RunPolicy(source="no policy declared: any network, credentials and budget")
"""The policy of a benchmark that declares none (plugins' benchmarks, unless they do)."""


class RequiredConditions(_Frozen):
    """The conditions a task's scores are comparable under, derived from its resources, its
    evaluation and its run policy: a result made under others is recorded as not comparable
    and is not ranked."""

    run_gpus: int = Field(ge=0)
    """GPUs the agent's run must be given, exactly (``resources.gpus``; 0: none)."""
    gpu_type: str | None = None
    """GPU model the limits were set for (``resources.gpu_type``), shown with the reasons."""
    time_limit_s: int = Field(gt=0)
    """Longest wall-clock limit a comparable run may have had (``resources.time_limit_s``)."""
    evaluation_hardware: Literal["any", "gpu"] = "any"
    """``gpu`` where the evaluator's timed re-run is specified on a GPU (``code_run.gpus``):
    times measured on a CPU are not comparable."""
    networks: tuple[str, ...] = ()
    """Agent network modes a comparable run may have had (``RunPolicy.networks``; empty: any)."""
    credentials: tuple[Literal["proxy", "direct"], ...] = ()
    """Credential modes a comparable run may have used (``RunPolicy.credentials``; empty:
    any)."""
    max_budget_usd: float | None = None
    """Largest model-API cost budget of a comparable run (``RunPolicy.max_budget_usd``; None:
    any)."""

    @property
    def has_policy(self) -> bool:
        """True when a run's network, credentials or model budget decide whether it ranks
        (which only its run record shows)."""
        return bool(self.networks or self.credentials or self.max_budget_usd is not None)


class TaskSpec(_Frozen):
    """A research challenge: what the agent gets, what it must deliver, how it is scored."""

    name: str = Field(pattern=NAME_PATTERN)
    """Unique task name, used on every command line."""
    benchmark: str = Field(pattern=NAME_PATTERN)
    """Benchmark the task belongs to (``full_benchmark``, ``mini_benchmark``, ``smoke`` ...)."""
    title: str = Field(min_length=1)
    """Human title."""
    summary: str = Field(min_length=1)
    """One sentence describing the task."""
    prompt: str = Field(min_length=1)
    """The challenge in markdown, addressed to the agent."""
    version: str = Field(pattern=r"^\d+\.\d+\.\d+$")
    """Semantic version of the spec; results record it."""
    datasets: tuple[DatasetSpec, ...] = ()
    """Data the agent may use."""
    starting_models: tuple[str, ...] = ()
    """Models the agent may start from (Hub ids or families); empty means from scratch."""
    from_scratch: bool = False
    """True when no pretrained weights may be used at all."""
    resources: Resources
    """Compute and time for one run."""
    rules: tuple[str, ...] = ()
    """Rules in plain words that are not checked by machine."""
    constraints: tuple[Constraint, ...] = ()
    """Rules the evaluator checks."""
    deliverable: DeliverableSpec
    """What the agent must leave in its output folder."""
    metrics: tuple[MetricSpec, ...] = Field(min_length=1)
    """Every metric the evaluator computes."""
    primary_metric: str
    """Name of the metric that ranks agents."""
    anchors: ScoreAnchors
    """Points for the normalised score of the primary metric."""
    competition_url: str | None = None
    """Page of the original competition."""
    paper_url: str | None = None
    """Paper that introduced or used the task."""
    decisions: tuple[Decision, ...] = ()
    """Choices made where sources disagree."""
    aliases: tuple[str, ...] = ()
    """Other names the task is known by (e.g. its upstream key)."""
    assets: str | None = None
    """Importable package whose folder may hold a ``starter/`` folder of files for the agent."""
    run_policy: RunPolicy | None = None
    """The run conditions this task ranks; None: its benchmark's (``agent_tasks.catalogue``
    ``CONDITIONS``), or any for a benchmark that declares none (see
    ``agent_tasks.catalogue.required_conditions``)."""
    evaluation: EvaluationSpec = EvaluationSpec()
    """Hidden evaluation details (never exported)."""

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        names = [m.name for m in self.metrics]
        if len(set(names)) != len(names):
            raise ValueError(f"metric names repeat in {names}")
        if self.primary_metric not in names:
            raise ValueError(
                f"primary_metric {self.primary_metric!r} is not among the metrics {names}"
            )
        if self.from_scratch and self.starting_models:
            raise ValueError("a from-scratch task cannot list starting models")
        kinds = [c.kind for c in self.constraints]
        if len(set(kinds)) != len(kinds):
            raise ValueError(f"constraint kinds repeat in {kinds}")
        if self.deliverable.kind == "predictions_csv" and not self.deliverable.columns:
            raise ValueError("a predictions_csv deliverable must name its columns")
        for url in (self.competition_url, self.paper_url):
            if url is not None and not re.match(r"^https?://\S+$", url):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return self

    @property
    def primary(self) -> MetricSpec:
        """The primary metric's spec."""
        return next(m for m in self.metrics if m.name == self.primary_metric)

    def constraint(self, kind: str) -> Any:
        """The constraint of this kind, or None."""
        return next((c for c in self.constraints if c.kind == kind), None)

    def public_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data, without what the agent must not see."""
        return self.model_dump(mode="json", exclude=set(HIDDEN_FIELDS))
