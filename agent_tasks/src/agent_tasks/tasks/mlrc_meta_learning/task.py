"""The `mlrc_meta_learning` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_meta_learning() -> TaskSpec:
    """NeurIPS 2022 Cross-Domain MetaDL: few-shot image classification in unseen domains."""
    return mlrc_spec(
        Facts(
            name="mlrc_meta_learning",
            key="meta-learning",
            title="Cross-domain meta-learning (MLRC-Bench)",
            summary="Meta-learn a few-shot image classifier that adapts to tasks from unseen "
            "domains.",
            competition_url="https://metalearning.chalearn.org/",
            metric_label="Normalised balanced accuracy",
            metric_unit="score (0-1)",
            metric_description="balanced accuracy on the query images of each test task, "
            "normalised so that random guessing scores 0, averaged over test tasks",
            baseline_dev=0.1822,
            baseline_test=0.1728,
            human_pct=304.5,
            runtime_limit_s=12600,
            gpu_memory_gb=16,
        )
    )
