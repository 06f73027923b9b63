"""The `edge_llm_compression` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    EDGE_URL,
    GPU_DECISION,
    MLRB_PAPER,
    VERSION,
    a100,
    edge_constraints,
    generation_speed,
    hf_model,
    mmlu,
    parameters,
    peak_memory,
    perplexity,
)
from agent_tasks.registry import task
from agent_tasks.spec import ScoreAnchors, TaskSpec


@task
def edge_llm_compression() -> TaskSpec:
    """NeurIPS 2024 Edge-LLM compression track: shrink phi-2 without quantization or training."""
    metric = mmlu()
    return TaskSpec(
        name="edge_llm_compression",
        benchmark=BENCHMARK,
        title="Edge LLM compression: phi-2 for a 12 GB device",
        summary="Compress microsoft/phi-2, without quantization, distillation or training, so "
        "that it runs within 12 GB of DRAM and keeps as much MMLU accuracy as possible.",
        prompt=prompt_of("edge_llm_compression"),
        version=VERSION,
        starting_models=("microsoft/phi-2",),
        resources=a100(),
        rules=(
            "Compression only (pruning, low-rank factorisation, weight sharing, layer removal "
            "...): no training, fine-tuning or distillation, i.e. no gradient updates of the "
            "weights.",
            "No quantization of any kind.",
            "No data is provided; a few batches of public text may be read for calibration "
            "statistics.",
        ),
        constraints=edge_constraints(),
        deliverable=hf_model("The compressed phi-2."),
        metrics=(metric, parameters(), perplexity(), generation_speed(), peak_memory("cpu")),
        primary_metric="mmlu",
        anchors=ScoreAnchors(
            baseline=metric.chance,
            baseline_label="chance level (4 choices)",
            reference=0.551,
            reference_label="best MLRB baseline-agent run (Claude 3.5 Sonnet)",
            source="reference: arXiv 2410.22553 (Edge-LLM compression, Claude 3.5 Sonnet's best "
            "run, MMLU 0.551); baseline: MMLU chance level",
        ),
        competition_url=EDGE_URL,
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION,),
    )
