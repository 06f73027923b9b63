"""The `mlrc_temporal_action_loc` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import TaskSpec


@task
def mlrc_temporal_action_loc() -> TaskSpec:
    """ECCV 2024 Perception Test: localise actions in time in untrimmed videos."""
    return mlrc_spec(
        Facts(
            name="mlrc_temporal_action_loc",
            key="perception_temporal_action_loc",
            title="Temporal action localisation (MLRC-Bench)",
            summary="Detect the start, end and class of every action in untrimmed videos "
            "from video and audio features.",
            competition_url="https://ptchallenge-workshop.github.io",
            metric_label="mAP over IoU 0.1-0.5",
            metric_unit="mAP (0-1)",
            metric_description="mean average precision of the detected action segments, "
            "averaged over temporal IoU thresholds 0.1 to 0.5",
            baseline_dev=0.2370,
            baseline_test=0.1264,
            human_pct=284.6,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )
