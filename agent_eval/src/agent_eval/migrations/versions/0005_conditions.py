"""Evaluations remember the conditions they were made under, and why they are not ranked.

New columns of ``evaluations``: ``comparable`` (indexed), ``not_ranked`` (the reasons, None
when ranked), and the conditions one filters on: ``hardware`` (indexed), ``gpu_model``,
``gpu_count``, ``run_gpus``, ``time_limit_s`` (indexed), ``network``, ``credentials_mode``
(indexed), ``budget_tokens``, ``budget_usd``. Filled from the stored results files; a file
written before conditions were recorded stays comparable with unknown conditions.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CONDITIONS = (
    ("hardware", sa.String(8), True),
    ("gpu_model", sa.String(), False),
    ("gpu_count", sa.Integer(), False),
    ("run_gpus", sa.Integer(), False),
    ("time_limit_s", sa.Integer(), True),
    ("network", sa.String(), False),
    ("credentials_mode", sa.String(16), True),
    ("budget_tokens", sa.BigInteger(), False),
    ("budget_usd", sa.Float(), False),
)


def _not_ranked(document: dict[str, Any]) -> str | None:
    """The reasons an older result is not ranked, as ``agent_eval.ranking`` words them."""
    reasons = []
    limit = (document.get("environment") or {}).get("sample_limit")
    if limit is not None:
        reasons.append(f"a quick check (--limit {limit})")
    if document.get("data_subset"):
        reasons.append("data_subset: fewer examples than the task's full set were scored")
    conditions = document.get("conditions") or {}
    if conditions.get("comparable") is False:
        reasons.append("not comparable: " + "; ".join(conditions.get("reasons") or ()))
    if document.get("run_id") is None and document.get("agent") is None:
        reasons.append("no run or agent named: shown apart, never ranked")
    return "; ".join(reasons) or None


def upgrade() -> None:
    """Add the columns and fill them from the stored results files."""
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("not_ranked", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("comparable", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        for name, kind, _ in _CONDITIONS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.create_index("ix_evaluations_comparable", ["comparable"])
        for name, _, indexed in _CONDITIONS:
            if indexed:
                batch.create_index(f"ix_evaluations_{name}", [name])
    evaluations = sa.table(
        "evaluations",
        sa.column("evaluation_id", sa.String()),
        sa.column("result_json", sa.JSON()),
        sa.column("not_ranked", sa.Text()),
        sa.column("comparable", sa.Boolean()),
        *(sa.column(name, kind) for name, kind, _ in _CONDITIONS),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.select(evaluations.c.evaluation_id, evaluations.c.result_json)).all()
    for evaluation_id, document in rows:
        document = document or {}
        conditions = document.get("conditions") or {}
        values: dict[str, Any] = {name: conditions.get(name) for name, _, _ in _CONDITIONS}
        values["comparable"] = conditions.get("comparable", True) is not False
        values["not_ranked"] = _not_ranked(document)
        conn.execute(
            evaluations.update()
            .where(evaluations.c.evaluation_id == evaluation_id)
            .values(**values)
        )


def downgrade() -> None:
    """Drop the columns."""
    with op.batch_alter_table("evaluations") as batch:
        for name, _, indexed in _CONDITIONS:
            if indexed:
                batch.drop_index(f"ix_evaluations_{name}")
        batch.drop_index("ix_evaluations_comparable")
        for name, _, _ in reversed(_CONDITIONS):
            batch.drop_column(name)
        batch.drop_column("comparable")
        batch.drop_column("not_ranked")
