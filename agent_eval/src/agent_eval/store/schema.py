"""The database tables, as typed SQLAlchemy models; migrations in ``agent_eval/migrations``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

JSONDocument = JSON().with_variant(JSONB(), "postgresql")
"""A JSON document: JSONB on PostgreSQL, JSON text on SQLite."""

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Constraint names fixed by convention, so migrations can name what they alter."""

METRIC_KINDS = ("relative", "absolute", "raw")
"""Kinds of published reference values: normalised, improvement over baseline in %, raw."""


class Base(DeclarativeBase):
    """Declarative base of every table."""

    metadata = MetaData(naming_convention=NAMING)


class RunRow(Base):
    """One harness run (``runs/<run_id>/run.json``)."""

    __tablename__ = "runs"

    run_id: Mapped[str] = mapped_column(String(), primary_key=True)
    task: Mapped[str | None] = mapped_column(String(), index=True)
    benchmark: Mapped[str | None] = mapped_column(String())
    agent_label: Mapped[str | None] = mapped_column(String())
    agent_image: Mapped[str | None] = mapped_column(String())
    image_digest: Mapped[str | None] = mapped_column(String())
    provider: Mapped[str | None] = mapped_column(String())
    status: Mapped[str | None] = mapped_column(String())
    exit_code: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float | None] = mapped_column(Float)
    model_calls: Mapped[int | None] = mapped_column(Integer)
    """Model-API calls through the harness's proxy (run.json ``model_usage``); None: unknown."""
    input_tokens: Mapped[int | None] = mapped_column(BigInteger)
    """Prompt tokens the provider reported for the run's calls."""
    output_tokens: Mapped[int | None] = mapped_column(BigInteger)
    """Output tokens the provider reported for the run's calls."""
    cost_usd: Mapped[float | None] = mapped_column(Float)
    """Cost of the run's calls in USD, from the harness's pinned price table."""
    run_json: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    """The run record as the harness wrote it; None for a run known only from a result's id."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class EvaluationRow(Base):
    """One evaluation: the columns the views filter on, plus the full results file."""

    __tablename__ = "evaluations"

    evaluation_id: Mapped[str] = mapped_column(String(), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.run_id"), index=True)
    task: Mapped[str] = mapped_column(String(), index=True)
    benchmark: Mapped[str] = mapped_column(String(), index=True)
    task_version: Mapped[str] = mapped_column(String())
    agent_label: Mapped[str | None] = mapped_column(String(), index=True)
    agent_image: Mapped[str | None] = mapped_column(String())
    agent_provider: Mapped[str | None] = mapped_column(String())
    agent_model: Mapped[str | None] = mapped_column(String())
    model_path: Mapped[str] = mapped_column(Text)
    model_sha256: Mapped[str | None] = mapped_column(String())
    model_format: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))
    primary_metric: Mapped[str] = mapped_column(String())
    primary_value: Mapped[float | None] = mapped_column(Float)
    """Raw value of the primary metric; None when it was not computed."""
    normalised_score: Mapped[float | None] = mapped_column(Float)
    absolute_improvement_pct: Mapped[float | None] = mapped_column(Float)
    constraints_passed: Mapped[bool] = mapped_column(Boolean)
    sample_limit: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Samples per dataset when the evaluation was a quick check (``--limit``); such results
    are kept and shown in history but never ranked."""
    data_subset: Mapped[bool] = mapped_column(Boolean, server_default=false())
    """True when fewer examples than the spec's full set were scored; never ranked either."""
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float)
    evaluator_version: Mapped[str] = mapped_column(String())
    schema_version: Mapped[str] = mapped_column(String())
    result_json: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    """The results file, as written; the source every read parses back."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    metrics: Mapped[list[MetricValueRow]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (CheckConstraint("status IN ('ok', 'partial', 'error')", name="status"),)


class MetricValueRow(Base):
    """One metric of one evaluation."""

    __tablename__ = "metric_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(
        ForeignKey("evaluations.evaluation_id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String())
    value: Mapped[float] = mapped_column(Float)
    stderr: Mapped[float | None] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String())
    direction: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String())

    evaluation: Mapped[EvaluationRow] = relationship(back_populates="metrics", lazy="raise")

    __table_args__ = (
        UniqueConstraint("evaluation_id", "name"),
        CheckConstraint("direction IN ('higher', 'lower')", name="direction"),
    )


class ReferenceResultRow(Base):
    """A published per-task result imported with its source (never computed here)."""

    __tablename__ = "reference_results"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    agent_label: Mapped[str] = mapped_column(String())
    task: Mapped[str] = mapped_column(String(), index=True)
    benchmark: Mapped[str] = mapped_column(String(), index=True)
    metric_kind: Mapped[str] = mapped_column(String(16))
    value: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String())
    batch_id: Mapped[str] = mapped_column(String(), index=True)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("agent_label", "task", "metric_kind", "source"),
        CheckConstraint("metric_kind IN ('relative', 'absolute', 'raw')", name="metric_kind"),
    )
