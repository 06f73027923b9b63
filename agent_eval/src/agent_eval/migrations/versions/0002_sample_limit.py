"""Evaluations remember whether they were a quick check (``--limit``), so they are never ranked.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``evaluations.sample_limit`` and fill it from the stored results files."""
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("sample_limit", sa.Integer(), nullable=True))
    evaluations = sa.table(
        "evaluations",
        sa.column("evaluation_id", sa.String()),
        sa.column("sample_limit", sa.Integer()),
        sa.column("result_json", sa.JSON()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(evaluations.c.evaluation_id, evaluations.c.result_json)).all()
    for evaluation_id, document in rows:
        limit = ((document or {}).get("environment") or {}).get("sample_limit")
        if limit is not None:
            conn.execute(
                evaluations.update()
                .where(evaluations.c.evaluation_id == evaluation_id)
                .values(sample_limit=int(limit))
            )


def downgrade() -> None:
    """Drop ``evaluations.sample_limit``."""
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("sample_limit")
