"""The results file: one JSON object per evaluation, the source of truth for everything after."""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
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
    format: Literal["hf_model", "peft_adapter", "predictions_csv", "method", "unknown"]
    """Kind of deliverable."""
    architecture: str | None = None
    """Model class or ``model_type``."""
    base_model: str | None = None
    """Base model of a PEFT adapter."""
    dtype: str | None = None
    """Dtype of the stored floating-point weights."""


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
    """``cpu``, ``cuda:0`` ..."""
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


def utcnow() -> datetime:
    """Timezone-aware current UTC time."""
    return datetime.now(UTC)


def result_filename(result: EvaluationResult) -> str:
    """``<UTC start>_<task>_<id8>.json``: sortable by time, unique by id."""
    stamp = result.started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}_{result.task}_{result.evaluation_id[:8]}.json"


def write_result(result: EvaluationResult, results_dir: str | Path) -> Path:
    """Write the result atomically into ``results_dir``; return the file's path."""
    folder = Path(results_dir)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / result_filename(result)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(result.model_dump_json(indent=2) + "\n")
        _hand_over(fh.fileno(), folder)
    Path(tmp).replace(target)
    return target


RESULT_FILE_MODE = 0o644
"""Mode of a results file: mkstemp's 0600 would keep it from the host user who mounted the
folder into the evaluator's container (a different uid), and from sync jobs."""


def _hand_over(fd: int, folder: Path) -> None:
    """Make the results file readable by all; as root, give it to the results folder's owner.

    Run as root in a container, the file would belong to root on the host; its owner is the one
    who made the mounted folder instead (docs/evaluator.md, "Who owns the results file").
    """
    os.fchmod(fd, RESULT_FILE_MODE)
    if os.geteuid() == 0:
        owner = folder.stat()
        if (owner.st_uid, owner.st_gid) != (0, 0):
            os.fchown(fd, owner.st_uid, owner.st_gid)


def read_result(path: str | Path) -> EvaluationResult:
    """Load one results file (raises pydantic.ValidationError or OSError on a bad file)."""
    return EvaluationResult.model_validate(json.loads(Path(path).read_text(encoding="utf-8")))
