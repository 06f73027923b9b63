"""The `mlrc_machine_unlearning` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_machine_unlearning() -> TaskSpec:
    """NeurIPS 2023 Machine Unlearning: make a classifier forget a subset of its data."""
    return mlrc_spec(
        Facts(
            name="mlrc_machine_unlearning",
            key="machine_unlearning",
            title="Machine unlearning (MLRC-Bench)",
            summary="Make a trained image classifier forget a subset of its training data "
            "while keeping its usefulness, without retraining from scratch.",
            competition_url="https://unlearning-challenge.github.io/",
            metric_label="Forgetting quality x utility ratios",
            metric_unit="score",
            metric_description="forgetting quality (against models retrained without the "
            "forget set) multiplied by the retain- and test-accuracy ratios to those models",
            baseline_dev=0.0539,
            baseline_test=0.0609,
            human_pct=61.9,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )
