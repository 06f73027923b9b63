"""The `mini_pile` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    MLRB_PAPER,
    SUPERGLUE_CHANCE,
    SUPERGLUE_DECISION,
    VERSION,
    a100,
    hf_model,
    hub_dataset,
    parameters,
    perplexity,
    superglue,
)
from agent_tasks.registry import task
from agent_tasks.spec import ScoreAnchors, TaskSpec

MINIPILE = hub_dataset(
    "minipile",
    splits={"train": 1_000_000, "validation": 500, "test": 10_000},
    columns=("text",),
    description="MiniPile: a 1M-document, diverse subset of The Pile.",
)


@task
def mini_pile() -> TaskSpec:
    """MiniPile: pre-train the best language model on a 1M-document corpus."""
    metric = superglue()
    return TaskSpec(
        name="mini_pile",
        benchmark=BENCHMARK,
        title="MiniPile: pre-train the best language model on a small corpus",
        summary="Pre-train a language model from scratch on MiniPile within 24 hours to "
        "maximise SuperGLUE accuracy.",
        prompt=prompt_of("mini_pile"),
        version=VERSION,
        datasets=(MINIPILE,),
        from_scratch=True,
        resources=a100(),
        rules=(
            "Pre-train on MiniPile only; no pretrained weights of any kind.",
            "SuperGLUE (any split) is for evaluation only: never train or tune on it.",
        ),
        deliverable=hf_model("The pre-trained model with its tokenizer."),
        metrics=(metric, parameters(), perplexity()),
        primary_metric="superglue",
        anchors=ScoreAnchors(
            baseline=SUPERGLUE_CHANCE,
            baseline_is_chance=True,
            baseline_label="chance level (measured on the rows scored)",
            reference=0.541,
            reference_label="MLRB baseline agent with Claude 3.5 Sonnet (mean of its runs)",
            source="reference: arXiv 2410.22553 (MiniPile, Claude 3.5 Sonnet succeeded in 4 of "
            "5 runs, mean SuperGLUE 0.541); baseline: the chance level of the superglue metric",
        ),
        competition_url="https://arxiv.org/abs/2304.08442",
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION, SUPERGLUE_DECISION),
    )
