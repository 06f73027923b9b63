"""The `mini_math_reasoning` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue import full_benchmark as full
from agent_tasks.catalogue.mini_benchmark import GPT2_XS, gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec
from agent_tasks.tasks.math_reasoning.task import math_reasoning


@task
def mini_math_reasoning() -> TaskSpec:
    """Fine-tune gpt2-xs to autoformalize proofs into Lean 3."""
    base = math_reasoning()
    return lm_task(
        base,
        title="Mini Autoformalization: gpt2-xs writes Lean 3",
        summary="Fine-tune gpt2-xs within 8 hours to turn natural-language statements and "
        "proofs into Lean 3.",
        rules=(
            full.MATH_HELDOUT_RULE,
            f"Start from `{GPT2_XS}` and keep its architecture; other open datasets are allowed "
            "in addition to the given one.",
            "The model must produce the formal text itself: no calls to external services at "
            "evaluation.",
        ),
        constraints=(gpt2_xs_cap(),),
    )
