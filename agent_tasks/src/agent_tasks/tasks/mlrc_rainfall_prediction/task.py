"""The `mlrc_rainfall_prediction` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.mlrc_bench import SOURCE, Facts, mlrc_spec
from agent_tasks.registry import task
from agent_tasks.spec import Decision, TaskSpec


@task
def mlrc_rainfall_prediction() -> TaskSpec:
    """NeurIPS 2023 Weather4cast: forecast high-resolution rain rates from satellite images."""
    return mlrc_spec(
        Facts(
            name="mlrc_rainfall_prediction",
            key="weather_forcast",
            title="Rainfall prediction (MLRC-Bench)",
            summary="Forecast future high-resolution radar rain rates from sequences of "
            "satellite images.",
            competition_url="https://weather4cast.net/neurips-2023/",
            metric_label="Mean CSI at 0.2, 1, 5, 10, 15 mm/h",
            metric_unit="CSI (0-1)",
            metric_description="critical success index of the predicted rain maps at the "
            "thresholds 0.2, 1, 5, 10 and 15 mm/h, averaged over the thresholds",
            baseline_dev=None,
            baseline_test=None,
            human_pct=212.0,
            runtime_limit_s=1800,
            gpu_memory_gb=48,
            agent_budget_s=10 * 3600,
            api_budget_usd=20.0,
        ),
        decisions=(
            Decision(
                topic="baseline score of the rainfall task",
                choice="no baseline value (None); the reference is kept only as the top "
                "human's +212.0 % over the baseline, so a normalised score needs the "
                "baseline's test score, measured by running the baseline method in the test "
                "phase of the same environment",
                source=f"{SOURCE} publishes the top human's improvement (+212.0 %) but not "
                "the baseline's dev or test score for this task; inventing one would make "
                "every normalised score on it meaningless",
            ),
            Decision(
                topic="agent budget of the rainfall task",
                choice="10 h and $20 of API calls per trial instead of the 5 h and $10 of "
                "the other MLRC-Bench tasks",
                source=f"{SOURCE}: rainfall trials got 100 steps, 10 h and $20 of API calls",
            ),
        ),
    )
