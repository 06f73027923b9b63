"""The `mlrc_llm_merging` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_llm_merging() -> TaskSpec:
    """NeurIPS 2024 LLM Merging: merge expert models into one that generalises."""
    return mlrc_spec(
        Facts(
            name="mlrc_llm_merging",
            key="llm-merging",
            title="LLM merging (MLRC-Bench)",
            summary="Merge public fine-tuned expert LLMs into one model that does well on "
            "held-out tasks; merge plus evaluation within 1 hour.",
            competition_url="https://llm-merging.github.io",
            metric_label="Hidden-test accuracy / ROUGE mix",
            metric_unit="score (0-1)",
            metric_description="the competition's hidden-test score of the merged model: a "
            "mix of accuracy and ROUGE over held-out tasks, from 0 to 1",
            baseline_dev=0.7271,
            baseline_test=0.4933,
            human_pct=68.2,
            runtime_limit_s=3600,
            gpu_memory_gb=48,
        )
    )
