"""The `edge_llm_training` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    EDGE_URL,
    GPU_DECISION,
    MLRB_PAPER,
    SUPERGLUE_DECISION,
    VERSION,
    a100,
    chance_anchors,
    edge_constraints,
    hf_model,
    hub_dataset,
    parameters,
    peak_memory,
    perplexity,
    superglue,
)
from agent_tasks.registry import task
from agent_tasks.spec import Decision, TaskSpec

EDGE_MEMORY_DECISION = Decision(
    topic="Edge-LLM training-from-scratch memory limit: 1 GB (task prompt) or 12 GB (README)",
    choice="12 GB of DRAM at inference",
    source="The task README and the NeurIPS 2024 Edge-LLM challenge page "
    "(https://edge-llms-challenge.github.io/edge-llm-challenge.github.io/challenge) give both "
    "tracks the same 12 GB smartphone budget; the 1 GB figure appears only in the MLRB prompt "
    "text and nowhere in the challenge's own rules.",
)
EDGE_C4 = hub_dataset(
    "edge_llm_training",
    config="c4_combined_dataset",
    splits={"train": 989_000},
    columns=("text",),
    description="English web text from C4.",
)
EDGE_ALPACA = hub_dataset(
    "edge_llm_training",
    config="alpaca_cleaned",
    splits={"train": 51_760},
    columns=("output", "input", "instruction"),
    description="Cleaned Alpaca instruction data.",
)


@task
def edge_llm_training() -> TaskSpec:
    """NeurIPS 2024 Edge-LLM training track: a small LM from scratch on C4 and Alpaca."""
    metric = superglue()
    return TaskSpec(
        name="edge_llm_training",
        benchmark=BENCHMARK,
        title="Edge LLM training from scratch",
        summary="Train a language model from scratch on C4 and Alpaca only that runs within "
        "12 GB of DRAM in FP16/FP32 and maximises SuperGLUE accuracy.",
        prompt=prompt_of("edge_llm_training"),
        version=VERSION,
        datasets=(EDGE_C4, EDGE_ALPACA),
        from_scratch=True,
        resources=a100(),
        rules=(
            "Train only on the two given datasets (C4 and Alpaca): no other data.",
            "No pretrained LLM weights of any kind.",
            "SuperGLUE (any split) is for evaluation only: never train or tune on it.",
        ),
        constraints=edge_constraints(),
        deliverable=hf_model("The trained model with its tokenizer."),
        metrics=(metric, parameters(), perplexity(), peak_memory("cpu")),
        primary_metric="superglue",
        anchors=chance_anchors(metric),
        competition_url=EDGE_URL,
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION, SUPERGLUE_DECISION, EDGE_MEMORY_DECISION),
    )
