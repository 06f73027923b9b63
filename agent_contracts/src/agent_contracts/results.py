"""The results file's schema: one JSON object per evaluation, the source of truth after it.

Defined here, beside the run record, so every package reads results with one model; the
evaluator writes them (``agent_eval.results``). See docs/contracts.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from agent_contracts.indexed import Indexed
from agent_contracts.versions import refuse_newer

SCHEMA_VERSION = "1.2"
"""Version of the results-file layout (``MAJOR.MINOR``): bump the minor on every added field,
the major on a change older files cannot be read under (with an upgrade step in the model's
``_version`` validator); readers refuse a newer version (docs/contracts.md)."""

REPORT_SCHEMA_VERSION = 1
"""Version of the evaluation report's layout (:class:`EvaluationReport`)."""

Status = Literal["ok", "partial", "error"]
"""``ok``: every metric computed; ``partial``: some failed; ``error``: no score at all."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class TimingRound(_Record):
    """One round of a timed metric: the task's baseline code and the agent's code run back to
    back, in the same sandbox, on the same machine."""

    baseline_s: float
    """Wall seconds of the baseline's run, measured by the evaluator."""
    agent_s: float
    """Wall seconds of the agent's run, measured by the evaluator."""
    ratio: float
    """``agent_s / baseline_s``."""
    agent_first: bool
    """The agent's code ran first in this round (the order alternates from round to round)."""


class Timing(_Record):
    """How a timed value's time was measured: the agent's code as a ratio to the task's own
    baseline code, measured in the same evaluation, interleaved, over several rounds (see
    docs/code-deliverables.md, 'Timed scores')."""

    statistic: Literal["median_ratio"] = "median_ratio"
    """How the rounds become one number: the median of the per-round ratios."""
    warmup_rounds: int
    """Rounds run first and left out (their times are not recorded)."""
    rounds: tuple[TimingRound, ...]
    """Every counted round, in the order run."""
    ratio: float
    """The median of the rounds' ratios: the agent's time in units of the baseline's."""
    ratio_min: float
    """Smallest ratio of a round."""
    ratio_max: float
    """Largest ratio of a round."""
    baseline_s: float
    """Median wall seconds of the baseline's runs on this machine."""
    agent_s: float
    """Median wall seconds of the agent's runs on this machine."""
    reference_baseline_s: float
    """The baseline's wall seconds on the machine the task's anchors were measured on (the
    spec's ``baseline_runtime_s``)."""
    seconds: float
    """The time the score uses: ``ratio * reference_baseline_s``, the agent's time as it would
    be on the anchors' machine."""
    sandbox: str
    """The sandbox both codes ran in (``process`` or ``docker``)."""


class MetricValue(_Record):
    """One computed number."""

    name: Annotated[str, Indexed()]
    """Metric key (``mmlu``, ``perplexity``, ``mmlu_stem`` ...)."""
    value: Annotated[float, Indexed()]
    """The value, in ``unit``."""
    stderr: Annotated[float | None, Indexed()] = None
    """Standard error, where the metric defines one."""
    unit: Annotated[str, Indexed()] = ""
    """Unit of the value."""
    direction: Annotated[Literal["higher", "lower"], Indexed(length=8)]
    """Whether higher or lower is better."""
    source: Annotated[str, Indexed()]
    """Key of the metric in the spec that produced this value."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Settings and counts behind the value (samples, tokens, few-shot, batch size ...)."""
    timing: Timing | None = None
    """How its time was measured against the task's baseline code, every round recorded (None:
    not a time measured against a baseline; files written before timings were recorded)."""


class ConstraintCheck(_Record):
    """A task constraint checked against the delivered model."""

    kind: str
    """Constraint kind from the spec (``max_memory_gb``, ``allowed_dtypes`` ...)."""
    limit: Any
    """What the spec allows."""
    measured: Any
    """What was found."""
    passed: bool | None
    """True/False, or None when it could not be checked (see ``detail``)."""
    detail: str = ""
    """How it was checked, or why it could not be."""
    outcome: Literal["passed", "failed", "unchecked"] = "unchecked"
    """``passed``/``failed`` when measured; ``unchecked`` when it could not be (a GPU memory
    rule on a machine without a GPU ...): never counted as passed. Older files: from
    ``passed``."""

    @model_validator(mode="before")
    @classmethod
    def _outcome(cls, data: Any) -> Any:
        if isinstance(data, dict):
            passed = data.get("passed")
            data = {
                **data,
                "outcome": "unchecked" if passed is None else "passed" if passed else "failed",
            }
        return data


class ModelInfo(_Record):
    """What was evaluated."""

    path: Annotated[str, Indexed("model_path", sql="text")]
    """Path as given (or resolved from a run folder)."""
    sha256: Annotated[str | None, Indexed("model_sha256")] = None
    """Content hash over every file of the deliverable (names and bytes), sorted by name."""
    format: Annotated[
        Literal["hf_model", "peft_adapter", "predictions_csv", "method", "code", "unknown"],
        Indexed("model_format", length=32),
    ]
    """Kind of deliverable (``code``: a program the evaluator re-ran, see code-deliverables)."""
    architecture: str | None = None
    """Model class or ``model_type``."""
    base_model: str | None = None
    """Base model of a PEFT adapter."""
    dtype: str | None = None
    """Dtype of the stored floating-point weights."""
    quantization: tuple[str, ...] = ()
    """Signs of quantization found in the files (config, side files, integer weights); empty
    when none, or when the files could not be read."""


class DatasetUse(_Record):
    """One dataset an evaluation read: where it comes from, how much of it, and a hash."""

    id: str
    """Hub dataset id (``cais/mmlu``), or ``bundled:<name>`` for data shipped in the package."""
    config: str | None = None
    """Configuration (subset) name; several read together are listed in ``details``."""
    split: str
    """Split scored (``test``, ``validation``, ``train[-400:]`` ...)."""
    revision: str | None = None
    """Hub revision the spec pins; None: not yet pinned (whatever prefetch fetched)."""
    fetched_revision: str | None = None
    """Hub commit prefetch downloaded, when its manifest recorded one."""
    examples: int
    """Examples scored (rows, questions, sentence pairs; for text: windows)."""
    full_examples: int | None = None
    """Examples in the spec's full set; None when not known."""
    complete: bool
    """True when the full set was scored; False marks a sample, which is never ranked."""
    sha256: str
    """sha256 over the files read (relative names and bytes, sorted by name)."""
    used_by: tuple[str, ...] = ()
    """Metric keys that read it."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Per-part counts (subjects, phenomena, subtasks) and the files read."""


class AgentInfo(_Record):
    """Who produced the deliverable (from the run record, or given on the command line)."""

    label: Annotated[str, Indexed("agent_label", index=True)]
    """Name shown on the leaderboard."""
    image: Annotated[str | None, Indexed("agent_image")] = None
    """Agent image (or local command) that ran."""
    provider: Annotated[str | None, Indexed("agent_provider")] = None
    """LLM provider the agent used."""
    model: Annotated[str | None, Indexed("agent_model")] = None
    """LLM the agent used, when known."""


class Score(_Record):
    """The primary metric, normalised against the task's anchors."""

    metric: str
    """Primary metric key."""
    raw: float
    """Raw value."""
    normalised: Annotated[float | None, Indexed("normalised_score")]
    """0 at the baseline, 100 at the reference (None when no anchors apply)."""
    absolute_improvement_pct: Annotated[float | None, Indexed()]
    """100 * (raw - baseline) / |baseline| (sign flipped for lower-is-better metrics)."""
    baseline: float | None
    """Baseline anchor used."""
    reference: float | None
    """Reference anchor used."""
    method: Literal["anchors", "chance", "none"]
    """How ``normalised`` was obtained."""


class ErrorInfo(_Record):
    """Something that went wrong during the evaluation."""

    stage: str
    """``load``, ``metric:<key>``, ``constraint:<kind>``, ``data`` ..."""
    type: str
    """Exception class name."""
    message: str
    """What went wrong, for a person."""


class Environment(_Record):
    """The software and hardware that produced the numbers."""

    evaluator_version: Annotated[str, Indexed()]
    """Version of agent-eval that evaluated."""
    lm_eval_version: str | None = None
    """Version of lm-evaluation-harness, when installed."""
    torch_version: str | None = None
    """Version of torch, when installed."""
    transformers_version: str | None = None
    """Version of transformers, when installed."""
    python_version: str
    """Version of the Python that ran the evaluator."""
    platform: str
    """Operating system and machine (``platform.platform()``)."""
    device: str
    """``cpu``, ``cuda:0`` ... (what ran; ``auto`` resolved)."""
    device_requested: str | None = None
    """The ``--device`` asked for (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""
    device_name: str | None = None
    """GPU model, or the CPU description."""
    dtype: str | None = None
    """Dtype the model ran in."""
    batch_size: int | None = None
    """Batch size for lm-eval: ``--batch-size``, else the one the task's metrics pin (the
    primary metric's first); None: neither."""
    num_fewshot: int | None = None
    """Few-shot examples the task's metrics pin (the primary metric's first); None: none pins
    one."""
    sample_limit: Annotated[int | None, Indexed()] = None
    """Samples per lm-eval task when limited for a quick check (None: full data)."""


class Conditions(_Record):
    """The conditions a result was produced under: the agent's run (from its run.json) and the
    evaluation, with whether they meet what the task and its benchmark declare
    (``agent_tasks.catalogue.required_conditions``). Results are ranked only against results
    made under comparable conditions."""

    hardware: Annotated[Literal["cpu", "gpu"], Indexed(index=True, length=8)]
    """What the evaluator computed on."""
    gpu_model: Annotated[str | None, Indexed()] = None
    """Model of the evaluation's GPU (None on CPU)."""
    gpu_count: Annotated[int, Indexed()] = 0
    """GPUs the evaluator could see."""
    run_gpus: Annotated[int | None, Indexed()] = None
    """GPUs the agent's run was given (None: no run record, or ``all`` with no count)."""
    run_gpu_ids: str | None = None
    """The run's GPU ids as given (``0,1``, ``all``, empty for none); None: no run record."""
    run_gpu_model: Annotated[str | None, Indexed()] = None
    """Model of the run's GPUs as the driver named them (``NVIDIA A100-SXM4-80GB``; several
    models joined by ``, ``); None: no GPU, no run record, or not recorded (no ``nvidia-smi``,
    a run.json from before it was)."""
    run_runtime: str | None = None
    """The runtime the agent ran under (``docker``, ``local``, or an installed runtime's name;
    None: no run record)."""
    time_limit_s: Annotated[int | None, Indexed(index=True)] = None
    """The run's wall-clock limit in seconds (None: no run record)."""
    grace_s: int | None = None
    """The run's grace period after the limit's SIGTERM, in seconds (None: no run record, or a
    results file from before it was recorded)."""
    network: Annotated[str | None, Indexed()] = None
    """The agent container's network mode (None: a local run, or no run record)."""
    credentials_mode: Annotated[
        Literal["proxy", "direct"] | None, Indexed(index=True, length=16)
    ] = None
    """How the agent reached its model API (None: no provider, or no run record)."""
    budget_tokens: Annotated[int | None, Indexed(sql="bigint")] = None
    """The run's model-API token budget (None: not limited, or no run record)."""
    budget_usd: Annotated[float | None, Indexed()] = None
    """The run's model-API cost budget in USD (None: not limited, or no run record)."""
    agent_image_digest: str | None = None
    """Registry digest of the agent image, else its image id (None: not known)."""
    evaluator_image: str | None = None
    """Evaluator image this evaluation ran in, as the harness named it (None: not known)."""
    evaluator_image_id: str | None = None
    """Image id of that evaluator image (None: not known)."""
    harness_version: str | None = None
    """Version of the harness that ran the agent (None: no run record)."""
    packages: dict[str, str] = Field(default_factory=dict)
    """Versions of the packages behind the numbers (evaluator, torch, transformers, lm-eval)."""
    required: dict[str, Any] = Field(default_factory=dict)
    """What the task declares (hardware class, GPUs, time limit), as judged against."""
    comparable: bool = True
    """False when the conditions differ from what the task declares: shown, never ranked."""
    reasons: tuple[str, ...] = ()
    """Why the result is not comparable, for a person (empty when comparable)."""


class SeriesPoint(_Record):
    """The deliverable as it stood at one moment of the run, evaluated (``--over-time``)."""

    elapsed_s: float
    """Seconds from the run's start to the snapshot (the final deliverable: the run's
    duration)."""
    snapshot: str
    """What was evaluated, relative to the run folder (``snapshots/3600/model``, or the final
    deliverable's path)."""
    final: bool = False
    """This point is the final deliverable."""
    status: Status
    """How its evaluation went."""
    metrics: tuple[MetricValue, ...] = ()
    """Its metrics."""
    score: Score | None = None
    """Its normalised primary score (None when the primary metric failed)."""
    constraints: tuple[ConstraintCheck, ...] = ()
    """The task's constraints as checked on it (empty in series recorded before they were
    kept, and for a point that could not be loaded)."""
    errors: tuple[ErrorInfo, ...] = ()
    """What went wrong evaluating it."""

    @property
    def constraints_passed(self) -> bool:
        """True when no checked constraint failed on it."""
        return all(c.passed is not False for c in self.constraints)


class EvaluationResult(_Record):
    """Everything about one evaluation."""

    schema_version: Annotated[str, Indexed()] = SCHEMA_VERSION
    """Version of the results-file layout this file follows; a newer one than this model's is
    refused on read."""
    evaluation_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Unique id; the database key, so writing the same result twice changes nothing."""
    run_id: str | None = None
    """The harness run that produced the deliverable, if any."""
    task: Annotated[str, Indexed(index=True)]
    """Name of the task evaluated."""
    benchmark: Annotated[str, Indexed(index=True)]
    """Benchmark the task was evaluated under."""
    task_version: Annotated[str, Indexed()]
    """Version of the task spec."""
    agent: AgentInfo | None = None
    """Who produced the deliverable; None when not known."""
    model: ModelInfo
    """What was evaluated."""
    status: Annotated[Status, Indexed(length=16)]
    """``ok``, ``partial`` (some metrics failed) or ``error`` (no score)."""
    metrics: tuple[MetricValue, ...] = ()
    """Every metric computed."""
    primary_metric: Annotated[str, Indexed()]
    """Key of the metric the score and the leaderboard use."""
    score: Score | None = None
    """Normalised primary score; None when the primary metric was not computed."""
    constraints: tuple[ConstraintCheck, ...] = ()
    """Every constraint of the task, as checked."""
    errors: tuple[ErrorInfo, ...] = ()
    """What went wrong, stage by stage (empty when nothing did)."""
    datasets: tuple[DatasetUse, ...] = ()
    """Every dataset the metrics read, with its revision, split, size used and hash."""
    data_subset: Annotated[bool, Indexed()] = False
    """True when fewer examples than the spec's full set were scored (a dataset incomplete or
    ``--limit``): kept in history, never ranked."""
    environment: Environment
    """The software and hardware that produced the numbers."""
    conditions: Conditions | None = None
    """The run's and the evaluation's conditions, and whether they are comparable (None: a
    results file written before conditions were recorded)."""
    over_time: tuple[SeriesPoint, ...] = ()
    """The score over the run (``agent-eval --over-time``): every snapshot of the deliverable
    and the final one, by elapsed seconds; empty when not asked for. The result's own metrics
    and score are the final deliverable's."""
    started_at: Annotated[datetime, Indexed(index=True)]
    """When the evaluation started (UTC)."""
    finished_at: Annotated[datetime, Indexed()]
    """When it ended (UTC)."""
    duration_s: Annotated[float, Indexed()]
    """Wall time of the evaluation in seconds."""

    @model_validator(mode="before")
    @classmethod
    def _version(cls, data: Any) -> Any:
        return refuse_newer(data, newest=SCHEMA_VERSION, what="results file")

    def metric(self, name: str) -> MetricValue | None:
        """The value recorded under this metric key, or None."""
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def primary_value(self) -> float | None:
        """Raw value of the primary metric; None when it was not computed."""
        if self.score is not None:
            return self.score.raw
        metric = self.metric(self.primary_metric)
        return metric.value if metric is not None else None

    @property
    def constraints_passed(self) -> bool:
        """True when no checked constraint failed."""
        return all(c.passed is not False for c in self.constraints)

    @property
    def comparable(self) -> bool:
        """False when the recorded conditions differ from the task's (older files: True)."""
        return self.conditions is None or self.conditions.comparable


class EvaluationReport(_Record):
    """What one ``agent-eval --report-file PATH`` evaluation did, for the program that started
    it (the harness): the exit code alone cannot say whether a failed evaluation's ``error``
    result reached the database."""

    schema_version: int = REPORT_SCHEMA_VERSION
    """Version of the report's layout; a newer one than this model's is refused on read."""

    exit_code: int
    """The command's exit code (0 ok, 5 evaluation failed, 6 saved but not recorded)."""
    results_file: str | None
    """The results file written (None: none could be written)."""
    status: Status | None
    """The result's status (None: no result)."""
    recorded: bool
    """Whether the result reached the database."""
    database_error: str | None = None
    """Why it did not, when recording was attempted and failed."""

    @model_validator(mode="before")
    @classmethod
    def _version(cls, data: Any) -> Any:
        return refuse_newer(data, newest=REPORT_SCHEMA_VERSION, what="evaluation report")
