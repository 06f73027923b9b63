"""The `mini_budget_model_training` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import BUDGET_ASSETS, NOT_GPT2_DECISION, derive
from agent_tasks.registry import task
from agent_tasks.spec import Decision, MaxRuntimeConstraint, TaskSpec
from agent_tasks.tasks.budget_model_training.task import budget_model_training


@task
def mini_budget_model_training() -> TaskSpec:
    """Budgeted ImageNet-100 training in 3 hours of an 8-hour session."""
    base = budget_model_training()
    return derive(
        base,
        title="Mini budgeted training: ImageNet-100 on 6 GB in 3 hours",
        summary="Train an ImageNet-100 classifier from scratch within 6 GB of GPU memory, 4 CPU "
        "cores and 3 hours of training, trading accuracy against inference time.",
        rules=base.rules,
        constraints=(
            base.constraints[0],
            MaxRuntimeConstraint(
                limit_s=3 * 3600,
                phase="training",
                description="the training run itself, not the whole session",
            ),
        ),
        decisions=(
            NOT_GPT2_DECISION,
            Decision(
                topic="training-time limit of the mini variant",
                choice="3 hours",
                source="the full task's 9 of 24 hours, scaled to the 8-hour session",
            ),
        ),
        assets=BUDGET_ASSETS,
    )
