"""The `mlrc_backdoor_trigger_recovery` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_backdoor_trigger_recovery() -> TaskSpec:
    """NeurIPS 2024 CLAS: recover the triggers planted in a backdoored code model."""
    return mlrc_spec(
        Facts(
            name="mlrc_backdoor_trigger_recovery",
            key="backdoor-trigger-recovery",
            title="Backdoor trigger recovery (MLRC-Bench)",
            summary="Recover the trigger phrases that make a poisoned code-generation LLM "
            "emit given malicious targets.",
            competition_url="https://www.llmagentsafetycomp24.com/tracks/#backdoor_model",
            metric_label="0.5 x (BLEU recall + attack success rate) x 100",
            metric_unit="score (0-100)",
            metric_description="mean of the recall of the true triggers (BLEU) and the attack "
            "success rate of the proposed triggers, times 100",
            baseline_dev=3.76,
            baseline_test=9.37,
            human_pct=621.3,
            runtime_limit_s=1800,
            gpu_memory_gb=48,
        )
    )
