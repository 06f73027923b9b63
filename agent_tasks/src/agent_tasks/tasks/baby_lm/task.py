"""The `baby_lm` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    LM_EVAL_NOTE,
    MLRB_PAPER,
    VERSION,
    a100,
    chance_anchors,
    hf_model,
    hub_dataset,
    parameters,
    perplexity,
)
from agent_tasks.registry import task
from agent_tasks.spec import MetricSpec, TaskSpec


def blimp() -> MetricSpec:
    """BLiMP accuracy through lm-eval's `blimp` group."""
    return MetricSpec(
        name="blimp",
        label="BLiMP accuracy",
        direction="higher",
        unit="accuracy",
        params={"num_fewshot": 0, "batch_size": 8},
        chance=0.5,
        description="share of BLiMP minimal pairs where the grammatical sentence gets the "
        f"higher likelihood; {LM_EVAL_NOTE}",
    )


BABYLM = hub_dataset(
    "babylm",
    splits={"train": 6, "dev": 6, "test": 6},
    columns=("filename", "content"),
    description="BabyLM Strict-Small: each row is one whole corpus file (child-directed "
    "speech, dialogue, subtitles, children's books, Wikipedia ...); about 10M words in train.",
)


@task
def baby_lm() -> TaskSpec:
    """BabyLM 2024 Strict-Small: a language model from about 10M words, from scratch."""
    metric = blimp()
    return TaskSpec(
        name="baby_lm",
        benchmark=BENCHMARK,
        title="BabyLM Strict-Small: a language model from 10M words",
        summary="Train a language model from scratch on the 10M-word BabyLM Strict-Small corpus "
        "to maximise BLiMP accuracy.",
        prompt=prompt_of("baby_lm"),
        version=VERSION,
        datasets=(BABYLM,),
        from_scratch=True,
        resources=a100(ram_gb=128, disk_gb=500),
        rules=(
            "Train only on the text of the given dataset (train split; dev for validation): "
            "no other data, including for the tokenizer.",
            "No pretrained weights of any kind: initialise every parameter randomly.",
            "BLiMP is for evaluation only: never train or tune on it.",
        ),
        deliverable=hf_model("The trained model with its tokenizer."),
        metrics=(metric, parameters(), perplexity()),
        primary_metric="blimp",
        anchors=chance_anchors(metric),
        competition_url="https://babylm.github.io/",
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION,),
    )
