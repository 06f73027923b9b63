"""The `mini_edge_llm_training` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec
from agent_tasks.tasks.edge_llm_training.task import edge_llm_training


@task
def mini_edge_llm_training() -> TaskSpec:
    """A gpt2-xs-sized edge model from scratch on C4 and Alpaca, 8 hours."""
    base = edge_llm_training()
    return lm_task(
        base,
        title="Mini Edge LLM training: a gpt2-xs-sized model from scratch",
        summary="Train a model of at most gpt2-xs size from scratch on C4 and Alpaca within 8 "
        "hours, in FP16/FP32, to maximise SuperGLUE accuracy.",
        rules=base.rules,
        constraints=(*base.constraints, gpt2_xs_cap()),
    )
