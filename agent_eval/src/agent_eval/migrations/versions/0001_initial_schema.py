"""Initial schema: runs, evaluations, metric values, reference results.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.JSON:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Create the four tables and their indexes."""
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(), nullable=False),
        sa.Column("task", sa.String(), nullable=True),
        sa.Column("benchmark", sa.String(), nullable=True),
        sa.Column("agent_label", sa.String(), nullable=True),
        sa.Column("agent_image", sa.String(), nullable=True),
        sa.Column("image_digest", sa.String(), nullable=True),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=True),
        sa.Column("exit_code", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("run_json", _json(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", name=op.f("pk_runs")),
    )
    op.create_index(op.f("ix_runs_task"), "runs", ["task"])

    op.create_table(
        "evaluations",
        sa.Column("evaluation_id", sa.String(), nullable=False),
        sa.Column("run_id", sa.String(), nullable=True),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("benchmark", sa.String(), nullable=False),
        sa.Column("task_version", sa.String(), nullable=False),
        sa.Column("agent_label", sa.String(), nullable=True),
        sa.Column("agent_image", sa.String(), nullable=True),
        sa.Column("agent_provider", sa.String(), nullable=True),
        sa.Column("agent_model", sa.String(), nullable=True),
        sa.Column("model_path", sa.Text(), nullable=False),
        sa.Column("model_sha256", sa.String(), nullable=True),
        sa.Column("model_format", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("primary_metric", sa.String(), nullable=False),
        sa.Column("primary_value", sa.Float(), nullable=True),
        sa.Column("normalised_score", sa.Float(), nullable=True),
        sa.Column("absolute_improvement_pct", sa.Float(), nullable=True),
        sa.Column("constraints_passed", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("evaluator_version", sa.String(), nullable=False),
        sa.Column("schema_version", sa.String(), nullable=False),
        sa.Column("result_json", _json(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('ok', 'partial', 'error')", name=op.f("ck_evaluations_status")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.run_id"], name=op.f("fk_evaluations_run_id_runs")
        ),
        sa.PrimaryKeyConstraint("evaluation_id", name=op.f("pk_evaluations")),
    )
    for column in ("agent_label", "benchmark", "run_id", "started_at", "task"):
        op.create_index(op.f(f"ix_evaluations_{column}"), "evaluations", [column])

    op.create_table(
        "metric_values",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("evaluation_id", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("stderr", sa.Float(), nullable=True),
        sa.Column("unit", sa.String(), nullable=False),
        sa.Column("direction", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.CheckConstraint(
            "direction IN ('higher', 'lower')", name=op.f("ck_metric_values_direction")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_id"],
            ["evaluations.evaluation_id"],
            name=op.f("fk_metric_values_evaluation_id_evaluations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_metric_values")),
        sa.UniqueConstraint(
            "evaluation_id", "name", name=op.f("uq_metric_values_evaluation_id_name")
        ),
    )
    op.create_index(op.f("ix_metric_values_evaluation_id"), "metric_values", ["evaluation_id"])

    op.create_table(
        "reference_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("agent_label", sa.String(), nullable=False),
        sa.Column("task", sa.String(), nullable=False),
        sa.Column("benchmark", sa.String(), nullable=False),
        sa.Column("metric_kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("batch_id", sa.String(), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "metric_kind IN ('relative', 'absolute', 'raw')",
            name=op.f("ck_reference_results_metric_kind"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reference_results")),
        sa.UniqueConstraint(
            "agent_label",
            "task",
            "metric_kind",
            "source",
            name=op.f("uq_reference_results_agent_label_task_metric_kind_source"),
        ),
    )
    for column in ("batch_id", "benchmark", "task"):
        op.create_index(op.f(f"ix_reference_results_{column}"), "reference_results", [column])


def downgrade() -> None:
    """Drop the four tables."""
    op.drop_table("reference_results")
    op.drop_table("metric_values")
    op.drop_table("evaluations")
    op.drop_table("runs")
