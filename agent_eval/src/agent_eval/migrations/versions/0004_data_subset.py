"""Evaluations remember whether they scored a sample of the data, so they are never ranked.

``data_subset`` is true when fewer examples than the spec's full set were scored (a trimmed
data folder as much as ``--limit``); such evaluations stay in history, off the leaderboard.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add ``evaluations.data_subset`` and fill it from the stored results files."""
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(
            sa.Column("data_subset", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    evaluations = sa.table(
        "evaluations",
        sa.column("evaluation_id", sa.String()),
        sa.column("data_subset", sa.Boolean()),
        sa.column("result_json", sa.JSON()),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(evaluations.c.evaluation_id, evaluations.c.result_json)).all()
    for evaluation_id, document in rows:
        if (document or {}).get("data_subset"):
            conn.execute(
                evaluations.update()
                .where(evaluations.c.evaluation_id == evaluation_id)
                .values(data_subset=True)
            )


def downgrade() -> None:
    """Drop ``evaluations.data_subset``."""
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("data_subset")
