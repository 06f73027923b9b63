"""Evaluations that did not establish their primary metric, a memory rule or their conditions
are not ranked.

``agent-eval evaluate --metrics`` without the primary metric records a result with no score, and
a GPU memory rule without a driver's reading is ``unchecked``; both are now left off the
leaderboard with a reason (``agent_eval.ranking.not_ranked``), so that neither stands as its
trial's latest evaluation nor counts a rule as met; a results file without conditions, in a
benchmark that declares a run policy, cannot show the policy was met. Stored rows get the same
reasons, appended to the ones they had.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


POLICY_BENCHMARKS = frozenset({"full_benchmark", "mini_benchmark", "mlrc_bench"})
"""The benchmarks that declared a run policy when this revision was written (results files
without conditions are older than any policy a plugin could declare)."""


def _reasons(document: dict[str, Any]) -> list[str]:
    """The reasons, as ``agent_eval.ranking`` words them, for a stored evaluation."""
    reasons = []
    if not document.get("conditions") and document.get("benchmark") in POLICY_BENCHMARKS:
        reasons.append(
            "conditions not recorded (a results file without them): the benchmark ranks runs "
            "by their network, credentials and model budget, which the file does not show"
        )
    if document.get("status") == "error":
        return reasons
    primary = document.get("primary_metric")
    names = {m.get("name") for m in document.get("metrics") or () if isinstance(m, dict)}
    if primary and primary not in names:
        reasons.append(
            f"primary metric {primary} not computed (--metrics): shown, never ranked or "
            "counted as the trial's latest evaluation"
        )
    for check in document.get("constraints") or ():
        if (
            isinstance(check, dict)
            and check.get("kind") == "max_memory_gb"
            and check.get("passed") is None
        ):
            detail = str(check.get("detail") or "").removeprefix("unchecked: ")
            reasons.append(f"memory rule ({check.get('limit')} GB) unchecked: {detail}")
    return reasons


def upgrade() -> None:
    """Append the reason to the stored rows it applies to."""
    evaluations = sa.table(
        "evaluations",
        sa.column("evaluation_id", sa.String()),
        sa.column("result_json", sa.JSON()),
        sa.column("not_ranked", sa.Text()),
    )
    conn = op.get_bind()
    query = sa.select(
        evaluations.c.evaluation_id, evaluations.c.result_json, evaluations.c.not_ranked
    )
    for evaluation_id, document, reasons in conn.execute(query).all():
        found = _reasons(document or {})
        if found:
            conn.execute(
                evaluations.update()
                .where(evaluations.c.evaluation_id == evaluation_id)
                .values(not_ranked="; ".join(r for r in (reasons, *found) if r))
            )


def downgrade() -> None:
    """Nothing to drop: the reasons stay (an older package reads them as text)."""
