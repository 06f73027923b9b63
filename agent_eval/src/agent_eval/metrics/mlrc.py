"""MLRC-Bench scores: produced by the MLRC-Bench task environment, imported, never computed here."""

from __future__ import annotations

from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param
from agent_eval.results import MetricValue
from agent_tasks.spec import MetricSpec


@metric("mlrc_score", needs="nothing")
def mlrc_score(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Always an error here: the score needs the MLRC-Bench task environment."""
    key = param(mspec, "key", ctx.spec.name)
    raise MetricError(
        f"mlrc_score ({key}) cannot be computed by this evaluator: it needs the MLRC-Bench "
        "task environment (its own test-phase data and scoring script)",
        hint="run the method in MLRC-Bench, then record its result with "
        "'agent-eval import <file>' (see docs/evaluator.md)",
    )
