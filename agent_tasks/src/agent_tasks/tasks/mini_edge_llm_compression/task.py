"""The `mini_edge_llm_compression` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import GPT2_XS_PARAMETERS, gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import Decision, TaskSpec
from agent_tasks.tasks.edge_llm_compression.task import edge_llm_compression


@task
def mini_edge_llm_compression() -> TaskSpec:
    """Compress gpt2-xs to three quarters of its parameters without quantization or training."""
    base = edge_llm_compression()
    limit = GPT2_XS_PARAMETERS * 3 // 4
    return lm_task(
        base,
        title="Mini Edge LLM compression: a smaller gpt2-xs",
        summary="Compress gpt2-xs to at most 75% of its parameters, without quantization, "
        "distillation or training, keeping as much accuracy as possible.",
        rules=base.rules,
        constraints=(
            *base.constraints,
            gpt2_xs_cap(limit, why="75% of gpt2-xs"),
        ),
        decisions=(
            Decision(
                topic="what the memory limit means at gpt2-xs scale",
                choice=f"a parameter cap of {limit:,} (75% of gpt2-xs) on top of the full "
                "task's dtype, quantization and 12 GB rules",
                source="gpt2-xs fits 12 GB many times over, so the memory limit alone would ask "
                "for no compression; 75% forces real structural compression (the tied "
                "embedding alone holds 19.3M of the 30M parameters)",
            ),
        ),
    )
