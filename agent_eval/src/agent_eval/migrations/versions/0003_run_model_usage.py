"""Runs remember their model-API use through the harness's proxy: calls, tokens and cost.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_COLUMNS = (
    ("model_calls", sa.Integer(), "calls", int),
    ("input_tokens", sa.BigInteger(), "input_tokens", int),
    ("output_tokens", sa.BigInteger(), "output_tokens", int),
    ("cost_usd", sa.Float(), "cost_usd", float),
)


def upgrade() -> None:
    """Add the usage columns to ``runs`` and fill them from the stored run records."""
    with op.batch_alter_table("runs") as batch:
        for name, kind, _, _ in _COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    runs = sa.table(
        "runs",
        sa.column("run_id", sa.String()),
        sa.column("run_json", sa.JSON()),
        *(sa.column(name, kind) for name, kind, _, _ in _COLUMNS),
    )
    conn = op.get_bind()
    for run_id, document in conn.execute(sa.select(runs.c.run_id, runs.c.run_json)).all():
        usage = (document or {}).get("model_usage")
        if not isinstance(usage, dict):
            continue
        values = {
            name: convert(usage[key])
            for name, _, key, convert in _COLUMNS
            if isinstance(usage.get(key), int | float)
        }
        if values:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(**values))


def downgrade() -> None:
    """Drop the usage columns."""
    with op.batch_alter_table("runs") as batch:
        for name, _, _, _ in reversed(_COLUMNS):
            batch.drop_column(name)
