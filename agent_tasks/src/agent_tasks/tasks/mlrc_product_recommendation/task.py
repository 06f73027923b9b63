"""The `mlrc_product_recommendation` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_product_recommendation() -> TaskSpec:
    """KDD Cup 2023 task 1: predict the next product in multilingual shopping sessions."""
    return mlrc_spec(
        Facts(
            name="mlrc_product_recommendation",
            key="product-recommendation",
            title="Session-based product recommendation (MLRC-Bench)",
            summary="Rank 100 products per shopping session so that the next product viewed "
            "comes first.",
            competition_url="https://www.aicrowd.com/challenges/"
            "amazon-kdd-cup-23-multilingual-recommendation-challenge",
            metric_label="MRR@100",
            metric_unit="MRR (0-1)",
            metric_description="mean reciprocal rank of the true next product in the "
            "100-item ranked list (0 when absent)",
            baseline_dev=0.0804,
            baseline_test=0.0804,
            human_pct=412.6,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )
