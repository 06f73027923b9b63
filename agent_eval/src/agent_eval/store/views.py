"""What the store hands back: history entries and reference rows (pydantic views, no engine)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

MetricKind = Literal["relative", "absolute", "raw"]


class HistoryEntry(BaseModel):
    """One recorded evaluation, as ``agent-eval history`` lists it."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    evaluation_id: str
    """Unique id of the evaluation."""
    run_id: str | None
    """The harness run that produced the deliverable, if any."""
    task: str
    """Name of the task evaluated."""
    benchmark: str
    """Benchmark the task was evaluated under."""
    agent_label: str | None
    """Name of the agent on the leaderboard, when known."""
    model_sha256: str | None
    """Content hash of the deliverable, when it could be computed."""
    model_format: str
    """Kind of deliverable (``hf_model``, ``peft_adapter``, ``code`` ...)."""
    status: str
    """``ok``, ``partial`` or ``error``."""
    primary_metric: str
    """Key of the task's primary metric."""
    primary_value: float | None
    """Raw value of the primary metric (None when it was not computed)."""
    normalised_score: float | None
    """Normalised primary score: 0 at the baseline, 100 at the reference (None: no score)."""
    constraints_passed: bool
    """True when no checked constraint failed."""
    comparable: bool = True
    """False when the conditions differ from the task's."""
    not_ranked: str | None = None
    """Why it is not ranked on the leaderboard (None: it is)."""
    started_at: datetime
    """When the evaluation started (UTC)."""
    finished_at: datetime
    """When it ended (UTC)."""
    duration_s: float
    """Seconds the evaluation took."""
    tokens: int | None = None
    """Model-API tokens (input plus output) of the evaluated run, when its record has them."""
    cost_usd: float | None = None
    """Model-API cost of the evaluated run in USD, when its record has it."""
    run_duration_s: float | None = None
    """Wall time of the evaluated run, when its record has it."""
    working_time_s: float | None = None
    """Working time of the evaluated run (wall time less the time stalled on the provider),
    when its record has it."""
    gpu_count: int | None = None
    """GPUs the run was given (None: unknown, e.g. ``--gpus all``, or no run record)."""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def gpu_hours(self) -> float | None:
        """GPUs x wall time of the run in hours (None when either is unknown)."""
        if self.gpu_count is None or self.run_duration_s is None:
            return None
        return self.gpu_count * self.run_duration_s / 3600.0


class ReferenceRow(BaseModel):
    """A published per-task result to import (a paper's table cell, a top human entry ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    agent_label: str = Field(min_length=1)
    """Who achieved it (``Top Human in Competition``, an agent's name ...)."""
    task: str = Field(min_length=1)
    """Task the result is for (catalogue name)."""
    benchmark: str = Field(min_length=1)
    """Benchmark of the task."""
    metric_kind: MetricKind
    """``relative`` (normalised score), ``absolute`` (improvement over baseline in %) or ``raw``."""
    value: float
    """The published number, of the kind ``metric_kind`` names (finite)."""
    source: str = Field(min_length=1)
    """Where the number was published (citation or URL)."""

    @field_validator("value")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
        return value


class StoredReference(ReferenceRow):
    """A reference result as stored, with its import batch."""

    id: int
    """Row id in the database."""
    batch_id: str
    """Id shared by every row imported in the same call."""
    imported_at: datetime
    """When the row was imported (UTC)."""
