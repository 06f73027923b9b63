"""The `mini_llm_efficiency` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import GPT2_XS, gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec
from agent_tasks.tasks.llm_efficiency.task import llm_efficiency


@task
def mini_llm_efficiency() -> TaskSpec:
    """Fine-tune gpt2-xs on open data in 8 hours for MMLU."""
    base = llm_efficiency()
    return lm_task(
        base,
        title="Mini LLM Efficiency: fine-tune gpt2-xs in 8 hours",
        summary="Fine-tune the 30M-parameter gpt2-xs on open data within 8 hours to raise its "
        "MMLU accuracy.",
        rules=(
            f"Start from `{GPT2_XS}` and keep its architecture.",
            *base.rules[1:],
        ),
        constraints=(gpt2_xs_cap(),),
    )
