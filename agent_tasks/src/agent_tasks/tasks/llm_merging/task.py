"""The `llm_merging` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    MLRB_PAPER,
    VERSION,
    a100,
    chance_anchors,
    hf_model,
    hub_dataset,
    mmlu,
    parameters,
)
from agent_tasks.registry import task
from agent_tasks.spec import MaxRuntimeConstraint, TaskSpec

MERGING_XSUM = hub_dataset(
    "llm_merging",
    config="xsum",
    splits={"train": 200},
    columns=("input", "target"),
    description="Validation rows for summarisation: check a merge and tune its coefficients.",
)
MERGING_COSMOSQA = hub_dataset(
    "llm_merging",
    config="cosmosqa",
    splits={"train": 500},
    columns=("input", "target", "answer_choices", "label"),
    description="Validation rows for commonsense reading comprehension (multiple choice).",
)
MERGING_FAMILIES = (
    "Llama-2-7B family",
    "Llama-3-8B family",
    "Mistral-7B family",
    "Flan-T5 family",
    "Gemma-7B family",
)
"""Recommended expert families of the NeurIPS 2024 LLM Merging competition."""


@task
def llm_merging() -> TaskSpec:
    """NeurIPS 2024 LLM Merging: one generalist model from public experts, merged in an hour."""
    metric = mmlu()
    return TaskSpec(
        name="llm_merging",
        benchmark=BENCHMARK,
        title="LLM Merging: one generalist from many experts",
        summary="Merge public expert models into one model whose MMLU accuracy is as high as "
        "possible, with merging and evaluation taking under an hour.",
        prompt=prompt_of("llm_merging"),
        version=VERSION,
        datasets=(MERGING_XSUM, MERGING_COSMOSQA),
        starting_models=MERGING_FAMILIES,
        resources=a100(),
        rules=(
            "Experts: any public model or adapter on the Hugging Face Hub uploaded before "
            "2024-05-31 with at most 8 billion parameters (e.g. the 7B/8B members of the "
            "families listed).",
            "Merge, do not train: the two validation sets serve to check a merge and choose its "
            "coefficients, not as fine-tuning data.",
            "MMLU (any split) is for evaluation only: never train or tune on it.",
            "Use only openly licensed data.",
        ),
        constraints=(
            MaxRuntimeConstraint(
                limit_s=3600,
                phase="merge_and_eval",
                description="loading the experts, merging them and evaluating the merge on the "
                "validation sets must take under an hour on the task's GPU",
            ),
        ),
        deliverable=hf_model("The merged model (a single model, not an ensemble)."),
        metrics=(metric, parameters()),
        primary_metric="mmlu",
        anchors=chance_anchors(metric),
        competition_url="https://llm-merging.github.io/",
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION,),
    )
