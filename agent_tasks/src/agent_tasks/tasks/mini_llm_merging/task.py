"""The `mini_llm_merging` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import GPT2_XS, gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import Decision, MaxRuntimeConstraint, TaskSpec
from agent_tasks.tasks.llm_merging.task import llm_merging


@task
def mini_llm_merging() -> TaskSpec:
    """Merge gpt2-xs experts of your own making into one model."""
    base = llm_merging()
    return lm_task(
        base,
        title="Mini LLM Merging: one gpt2-xs from several experts",
        summary="Fine-tune several gpt2-xs experts on different open data, then merge them "
        "into a single gpt2-xs-shaped model, merge and evaluation within 20 minutes.",
        rules=(
            f"Experts: copies of `{GPT2_XS}` fine-tuned by you on openly licensed data (public "
            "gpt2-xs fine-tunes may be used too); the merge keeps the gpt2-xs architecture.",
            "The two validation sets serve to check a merge and choose its coefficients, not as "
            "fine-tuning data.",
            "MMLU (any split) is for evaluation only: never train or tune on it.",
        ),
        constraints=(
            MaxRuntimeConstraint(
                limit_s=20 * 60,
                phase="merge_and_eval",
                description="loading the experts, merging and evaluating the merge on the "
                "validation sets takes under 20 minutes",
            ),
            gpt2_xs_cap(why="the merged model keeps the gpt2-xs size"),
        ),
        decisions=(
            Decision(
                topic="experts for a gpt2-xs merge",
                choice="the agent fine-tunes its own experts from gpt2-xs; merge and evaluation "
                "limited to 20 minutes",
                source="no public expert family exists for gpt2-xs; 20 minutes is the full "
                "task's 1 hour scaled by 8 h / 24 h",
            ),
        ),
    )
