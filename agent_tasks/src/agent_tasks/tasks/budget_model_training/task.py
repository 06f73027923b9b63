"""The `budget_model_training` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
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
from agent_tasks.spec import (
    DatasetSpec,
    EvaluationSpec,
    MaxMemoryConstraint,
    MaxRuntimeConstraint,
    TaskSpec,
)

BUDGET_TRAIN = hub_dataset(
    "budget_model_train",
    splits={"train": 102_512, "val": 25_628},
    columns=("image", "image_id", "class"),
    description="ImageNet-100 images with their class. The dataset's test split is for "
    "scoring only.",
)


@task
def budget_model_training() -> TaskSpec:
    """Budgeted training: an ImageNet-100 classifier under 6 GB of GPU memory and 9 hours."""
    dataset = BUDGET_TRAIN.id
    return TaskSpec(
        name="budget_model_training",
        benchmark=BENCHMARK,
        title="Budgeted training: ImageNet-100 on 6 GB in 9 hours",
        summary="Train an ImageNet-100 classifier from scratch within 6 GB of GPU memory, 4 CPU "
        "cores and 9 hours of training, trading accuracy against inference time.",
        prompt=prompt_of("budget_model_training"),
        version=VERSION,
        datasets=(BUDGET_TRAIN,),
        from_scratch=True,
        resources=a100(cpus=4),
        rules=(
            "No pretrained weights: train from random initialisation on the given data only.",
            "The dataset's test split is for scoring only: never train on it or look at its "
            "labels.",
            "The benchmark runs your main.py for inference, offline: it must not download "
            "anything.",
        ),
        constraints=(
            MaxMemoryConstraint(
                limit_gb=6,
                device="gpu",
                phase="training",
                description="at every point of the training run",
            ),
            MaxRuntimeConstraint(
                limit_s=9 * 3600,
                phase="training",
                description="the training run itself, not the whole session",
            ),
        ),
        deliverable=budget_deliverable(
            "label", "the predicted class in `label` (a value of the dataset's `class` column)"
        ),
        metrics=(
            twe(dataset, "class"),
            predictions_accuracy(dataset, "class", chance=0.01),
        ),
        primary_metric="twe",
        anchors=TWE_ANCHORS,
        paper_url="https://arxiv.org/abs/2311.11470",
        decisions=(GPU_DECISION,),
        assets=assets_of("budget_starter"),
        evaluation=EvaluationSpec(
            datasets=(
                DatasetSpec(
                    id=dataset,
                    revision=hub_revision(dataset),
                    splits={"test": 5_000},
                    columns=("image", "image_id", "class"),
                    description="Test images written to DIR/test/<image_id>.<ext>; labels kept "
                    "by the evaluator.",
                ),
            ),
            notes="Run `python main.py --data_dir DIR` in a copy of the output folder, offline, "
            "with the test images only; time the whole run; TWE = accuracy² / minutes.",
            code_run=budget_code_run(dataset, memory_gb=32),
        ),
    )
