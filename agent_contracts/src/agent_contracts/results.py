"""The results file's schema: one JSON object per evaluation, the source of truth after it.

Defined here, beside the run record, so every package reads results with one model; the
evaluator writes them (``agent_eval.results``). See docs/contracts.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"
"""Version of the results-file layout; bump on any incompatible change."""

Status = Literal["ok", "partial", "error"]
"""``ok``: every metric computed; ``partial``: some failed; ``error``: no score at all."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class MetricValue(_Record):
    """One computed number."""

    name: str
    """Metric key (``mmlu``, ``perplexity``, ``mmlu_stem`` ...)."""
    value: float
    """The value, in ``unit``."""
    stderr: float | None = None
    """Standard error, where the metric defines one."""
    unit: str = ""
    """Unit of the value."""
    direction: Literal["higher", "lower"]
    """Whether higher or lower is better."""
    source: str
    """Key of the metric in the spec that produced this value."""
    details: dict[str, Any] = Field(default_factory=dict)
    """Settings and counts behind the value (samples, tokens, few-shot, batch size ...)."""


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


class ModelInfo(_Record):
    """What was evaluated."""

    path: str
    """Path as given (or resolved from a run folder)."""
    sha256: str | None = None
    """Content hash over every file of the deliverable (names and bytes), sorted by name."""
    format: Literal["hf_model", "peft_adapter", "predictions_csv", "method", "code", "unknown"]
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

    label: str
    """Name shown on the leaderboard."""
    image: str | None = None
    """Agent image (or local command) that ran."""
    provider: str | None = None
    """LLM provider the agent used."""
    model: str | None = None
    """LLM the agent used, when known."""


class Score(_Record):
    """The primary metric, normalised against the task's anchors."""

    metric: str
    """Primary metric key."""
    raw: float
    """Raw value."""
    normalised: float | None
    """0 at the baseline, 100 at the reference (None when no anchors apply)."""
    absolute_improvement_pct: float | None
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

    evaluator_version: str
    lm_eval_version: str | None = None
    torch_version: str | None = None
    transformers_version: str | None = None
    python_version: str
    platform: str
    device: str
    """``cpu``, ``cuda:0`` ... (what ran; ``auto`` resolved)."""
    device_requested: str | None = None
    """The ``--device`` asked for (``auto``, ``cpu``, ``cuda``, ``cuda:N``)."""
    device_name: str | None = None
    """GPU model, or the CPU description."""
    dtype: str | None = None
    """Dtype the model ran in."""
    batch_size: int | None = None
    num_fewshot: int | None = None
    sample_limit: int | None = None
    """Samples per lm-eval task when limited for a quick check (None: full data)."""


class EvaluationResult(_Record):
    """Everything about one evaluation."""

    schema_version: str = SCHEMA_VERSION
    evaluation_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    """Unique id; the database key, so writing the same result twice changes nothing."""
    run_id: str | None = None
    """The harness run that produced the deliverable, if any."""
    task: str
    benchmark: str
    task_version: str
    agent: AgentInfo | None = None
    model: ModelInfo
    status: Status
    metrics: tuple[MetricValue, ...] = ()
    primary_metric: str
    score: Score | None = None
    """Normalised primary score; None when the primary metric was not computed."""
    constraints: tuple[ConstraintCheck, ...] = ()
    errors: tuple[ErrorInfo, ...] = ()
    datasets: tuple[DatasetUse, ...] = ()
    """Every dataset the metrics read, with its revision, split, size used and hash."""
    data_subset: bool = False
    """True when fewer examples than the spec's full set were scored (a dataset incomplete or
    ``--limit``): kept in history, never ranked."""
    environment: Environment
    started_at: datetime
    finished_at: datetime
    duration_s: float

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


class EvaluationReport(_Record):
    """What one ``agent-eval --report-file PATH`` evaluation did, for the program that started
    it (the harness): the exit code alone cannot say whether a failed evaluation's ``error``
    result reached the database."""

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
