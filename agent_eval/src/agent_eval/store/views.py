"""What the store hands back: history entries and reference rows (pydantic views, no engine)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MetricKind = Literal["relative", "absolute", "raw"]


class HistoryEntry(BaseModel):
    """One recorded evaluation, as ``agent-eval history`` lists it."""

    model_config = ConfigDict(frozen=True, use_attribute_docstrings=True)

    evaluation_id: str
    run_id: str | None
    task: str
    benchmark: str
    agent_label: str | None
    model_sha256: str | None
    model_format: str
    status: str
    primary_metric: str
    primary_value: float | None
    """Raw value of the primary metric (None when it was not computed)."""
    normalised_score: float | None
    constraints_passed: bool
    started_at: datetime
    finished_at: datetime
    duration_s: float


class ReferenceRow(BaseModel):
    """A published per-task result to import (a paper's table cell, a top human entry ...)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    agent_label: str = Field(min_length=1)
    """Who achieved it (``Top Human in Competition``, an agent's name ...)."""
    task: str = Field(min_length=1)
    benchmark: str = Field(min_length=1)
    metric_kind: MetricKind
    """``relative`` (normalised score), ``absolute`` (improvement over baseline in %) or ``raw``."""
    value: float
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
    batch_id: str
    """Id shared by every row imported in the same call."""
    imported_at: datetime
