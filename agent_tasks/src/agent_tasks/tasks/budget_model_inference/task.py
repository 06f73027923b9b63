"""The `budget_model_inference` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    ORG,
    TWE_ANCHORS,
    VERSION,
    a100,
    budget_code_run,
    budget_deliverable,
    hub_dataset,
    predictions_accuracy,
    twe,
)
from agent_tasks.catalogue.revisions import hub_revision
from agent_tasks.registry import task
from agent_tasks.spec import DatasetSpec, Decision, EvaluationSpec, MaxMemoryConstraint, TaskSpec

TWE_DECISION = Decision(
    topic="Budget-inference score: S = M_avg*M - T_avg*T - C_avg*C (prompt) or TWE (README)",
    choice="TWE = accuracy^2 / inference minutes",
    source="The task README and the public MLRB evaluator use TWE, which this project's "
    "evaluator implements (metric 'twe'). The prompt's S weights accuracy M, time T and cost C "
    "by averages M_avg, T_avg, C_avg that no public source defines, so it cannot be computed "
    "reproducibly.",
)
BUDGET_INFERENCE = hub_dataset(
    "budget_model_inference",
    splits={"train": 28_000},
    columns=("image", "image_id", "digit_sum"),
    description="UltraMNIST images, each holding 3 to 5 handwritten digits of very different "
    "sizes, labelled with the sum of the digits (0-27). The dataset's test split is for "
    "scoring only.",
)


@task
def budget_model_inference() -> TaskSpec:
    """Budgeted inference: sum the digits of UltraMNIST images fast within 16 GB of GPU memory."""
    dataset = f"{ORG}/budget_model_inference"
    return TaskSpec(
        name="budget_model_inference",
        benchmark=BENCHMARK,
        title="Budgeted inference: summing digits in UltraMNIST images",
        summary="Build a model and inference script that predict the sum of the digits in "
        "each UltraMNIST image, trading accuracy against inference time within 16 GB of GPU "
        "memory.",
        prompt=prompt_of("budget_model_inference"),
        version=VERSION,
        datasets=(BUDGET_INFERENCE,),
        resources=a100(),
        rules=(
            "The dataset's test split is for scoring only: never train on it or look at its "
            "labels.",
            "The benchmark runs your main.py for inference, offline: it must not download "
            "anything.",
        ),
        constraints=(
            MaxMemoryConstraint(
                limit_gb=16,
                device="gpu",
                phase="inference",
                description="while main.py predicts the test images",
            ),
        ),
        deliverable=budget_deliverable("digit_sum", "the predicted sum in `digit_sum`"),
        metrics=(
            twe(dataset, "digit_sum"),
            predictions_accuracy(dataset, "digit_sum", chance=round(1 / 28, 4)),
        ),
        primary_metric="twe",
        anchors=TWE_ANCHORS,
        decisions=(GPU_DECISION, TWE_DECISION),
        assets=assets_of("budget_starter"),
        evaluation=EvaluationSpec(
            datasets=(
                DatasetSpec(
                    id=dataset,
                    revision=hub_revision(dataset),
                    splits={"test": 2_800},
                    columns=("image", "image_id", "digit_sum"),
                    description="Test images written to DIR/test/<image_id>.<ext>; labels kept "
                    "by the evaluator.",
                ),
            ),
            notes="Run `python main.py --data_dir DIR` in a copy of the output folder, offline, "
            "with the test images only and GPU memory capped at 16 GB; time the whole run; "
            "TWE = accuracy² / minutes, accuracy = exact match of digit_sum.",
            code_run=budget_code_run(dataset, memory_gb=32),
        ),
    )
