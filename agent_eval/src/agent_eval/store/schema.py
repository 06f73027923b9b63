"""The database tables, as typed SQLAlchemy models; migrations in ``agent_eval/migrations``.

The ``evaluations`` columns that copy a results field are derived from the results model (its
fields marked ``Indexed``), so a new indexed field needs no edit here: only a migration, which
``alembic revision --autogenerate`` writes from these tables (docs/database.md).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeEngine

from agent_contracts.indexed import IndexedField, indexed_fields
from agent_contracts.results import EvaluationResult, MetricValue

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
    """One evaluation: its key and link to its run, what is computed from the result to rank on,
    the full results file, and a column for every field the results model marks
    :class:`~agent_contracts.indexed.Indexed` (added below by :func:`_add_indexed_columns`)."""

    __tablename__ = "evaluations"

    evaluation_id: Mapped[str] = mapped_column(String(), primary_key=True)
    run_id: Mapped[str | None] = mapped_column(ForeignKey("runs.run_id"), index=True)
    primary_value: Mapped[float | None] = mapped_column(Float)
    """Raw value of the primary metric; None when it was not computed."""
    constraints_passed: Mapped[bool] = mapped_column(Boolean)
    """True when no checked constraint failed."""
    not_ranked: Mapped[str | None] = mapped_column(Text)
    """Why the evaluation is not ranked (``agent_eval.ranking.not_ranked``, joined by ``; ``);
    None when it is."""
    comparable: Mapped[bool] = mapped_column(Boolean, server_default=true(), index=True)
    """False when the run's or the evaluation's conditions differ from the task's (result's
    ``conditions.reasons``); never ranked."""
    result_json: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    """The results file, as written; the source every read parses back."""
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    metrics: Mapped[list[MetricValueRow]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (CheckConstraint("status IN ('ok', 'partial', 'error')", name="status"),)


INDEXED = indexed_fields(EvaluationResult)
"""The results fields kept as ``evaluations`` columns, in the model's order."""


def _sql_type(field: IndexedField) -> TypeEngine[Any]:
    """The column type of an indexed field: its marker's SQL type, else from its Python type."""
    marker = field.marker
    if marker.sql == "text":
        return Text()
    if marker.sql == "bigint":
        return BigInteger()
    kinds: dict[type, TypeEngine[Any]] = {
        bool: Boolean(),
        int: Integer(),
        float: Float(),
        str: String(marker.length),
        datetime: DateTime(timezone=True),
    }
    return kinds[field.kind]


def _server_default(field: IndexedField) -> Any:
    """What rows stored before the column existed hold: a non-null field's boolean or number
    default (None: no server default)."""
    default = field.default
    if isinstance(default, bool):
        return true() if default else false()
    if isinstance(default, int | float):
        return str(default)
    return None


def indexed_column(field: IndexedField) -> Column[Any]:
    """The ``evaluations`` column of an indexed results field."""
    return Column(
        field.column,
        _sql_type(field),
        nullable=field.nullable,
        index=field.marker.index or None,
        server_default=_server_default(field),
        doc=field.description,
    )


def _add_indexed_columns(table_class: type[Base], fields: tuple[IndexedField, ...]) -> None:
    """Add a column per indexed field to a declared table (declarative maps them as declared)."""
    for field in fields:
        setattr(table_class, field.column, indexed_column(field))


_add_indexed_columns(EvaluationRow, INDEXED)

EVALUATIONS = EvaluationRow.__table__
"""The ``evaluations`` table, whose ``.c`` names every column, derived ones included."""


class MetricValueRow(Base):
    """One metric of one evaluation: its key, its evaluation, and a column for every field the
    metric's model (``MetricValue``) marks ``Indexed``."""

    __tablename__ = "metric_values"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    evaluation_id: Mapped[str] = mapped_column(
        ForeignKey("evaluations.evaluation_id", ondelete="CASCADE"), index=True
    )

    evaluation: Mapped[EvaluationRow] = relationship(back_populates="metrics", lazy="raise")

    __table_args__ = (CheckConstraint("direction IN ('higher', 'lower')", name="direction"),)


METRIC_INDEXED = indexed_fields(MetricValue)
"""The fields of a result's metric kept as ``metric_values`` columns."""

_add_indexed_columns(MetricValueRow, METRIC_INDEXED)
METRIC_VALUES = cast(Table, MetricValueRow.__table__)
"""The ``metric_values`` table (its ``.c`` names every column, derived ones included)."""
METRIC_VALUES.append_constraint(UniqueConstraint("evaluation_id", "name"))


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
