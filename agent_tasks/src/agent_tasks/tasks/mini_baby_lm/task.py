"""The `mini_baby_lm` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mini_benchmark import gpt2_xs_cap, lm_task
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec
from agent_tasks.tasks.baby_lm.task import baby_lm


@task
def mini_baby_lm() -> TaskSpec:
    """A gpt2-xs-sized model from scratch on BabyLM Strict-Small, 8 hours."""
    base = baby_lm()
    return lm_task(
        base,
        title="Mini BabyLM: a gpt2-xs-sized model from 10M words",
        summary="Train a model of at most gpt2-xs size from scratch on the BabyLM Strict-Small "
        "corpus within 8 hours to maximise BLiMP accuracy.",
        rules=base.rules,
        constraints=(gpt2_xs_cap(),),
    )
