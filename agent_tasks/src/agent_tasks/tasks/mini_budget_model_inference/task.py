"""The `mini_budget_model_inference` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import BUDGET_ASSETS, NOT_GPT2_DECISION, derive
from agent_tasks.registry import task
from agent_tasks.spec import Decision, TaskSpec
from agent_tasks.tasks.budget_model_inference.task import budget_model_inference

MINI_NAME_DECISION = Decision(
    topic="mini task names (upstream mixes mini_budget_inference and mini_budget_model_inference)",
    choice="mini_<full task name> for every task; upstream variants kept as aliases",
    source="MLRB mini-benchmark facts: upstream names are inconsistent; one rule makes every "
    "mini task findable from its full name",
)


@task
def mini_budget_model_inference() -> TaskSpec:
    """Budgeted UltraMNIST digit-sum inference, 8-hour session."""
    base = budget_model_inference()
    return derive(
        base,
        title="Mini budgeted inference: summing UltraMNIST digits",
        summary="Within 8 hours, build a model and inference script that predict the digit sum "
        "of each UltraMNIST image, trading accuracy against inference time within 16 GB of GPU "
        "memory.",
        rules=base.rules,
        constraints=base.constraints,
        decisions=(NOT_GPT2_DECISION, MINI_NAME_DECISION),
        assets=BUDGET_ASSETS,
        aliases=("mini_budget_inference",),
    )
