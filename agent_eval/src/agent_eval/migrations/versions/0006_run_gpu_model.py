"""Evaluations remember the model of the GPUs their run was given.

New column of ``evaluations``: ``run_gpu_model`` (from ``conditions.run_gpu_model``). Results
files written before it carry none, so stored rows keep NULL.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column."""
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("run_gpu_model", sa.String(), nullable=True))


def downgrade() -> None:
    """Drop the column."""
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("run_gpu_model")
