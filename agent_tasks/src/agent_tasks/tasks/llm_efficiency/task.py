"""The `llm_efficiency` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    MLRB_PAPER,
    VERSION,
    a100,
    chance_anchors,
    generation_speed,
    hf_model,
    mmlu,
    parameters,
    perplexity,
)
from agent_tasks.registry import task
from agent_tasks.spec import DatasetSpec, TaskSpec

LLM_EFFICIENCY_FAMILIES = (
    "ALBERT",
    "BART",
    "BERT",
    "Bloom",
    "Cerebras (BTLM, Cerebras-GPT)",
    "Colossal-LLaMA-2-7b-base",
    "DeBERTa",
    "DeciLM-6B",
    "DistilBERT",
    "Electra",
    "Falcon",
    "GPT2",
    "GPT-Neo / GPT-J / GPT-NeoX / Pythia",
    "InternLM",
    "LLaMA / Llama 2",
    "Mistral",
    "MPT",
    "OpenLLaMA",
    "OPT",
    "Persimmon",
    "Qwen",
    "RedPajama base",
    "RoBERTa",
    "T5 (not Flan-T5)",
    "UL2",
)
"""The 25 approved base-model families of the NeurIPS 2023 LLM Efficiency Challenge."""


@task
def llm_efficiency() -> TaskSpec:
    """NeurIPS 2023 LLM Efficiency Challenge: fine-tune an approved base model in a day."""
    metric = mmlu()
    suggested = (
        ("databricks/databricks-dolly-15k", "Dolly-15k: human-written instruction pairs."),
        ("OpenAssistant/oasst1", "OpenAssistant Conversations (oasst1)."),
        ("allenai/dolma", "Dolma: open pre-training corpus."),
        ("togethercomputer/RedPajama-Data-1T", "RedPajama-Data-1T: open pre-training corpus."),
        ("GAIR/lima", "LIMA: 1k curated instruction examples."),
    )
    return TaskSpec(
        name="llm_efficiency",
        benchmark=BENCHMARK,
        title="LLM Efficiency: one base model, one GPU, one day",
        summary="Fine-tune an approved open base model on open data within 24 hours on one "
        "GPU to maximise MMLU accuracy.",
        prompt=prompt_of("llm_efficiency"),
        version=VERSION,
        datasets=tuple(
            DatasetSpec(
                id=i,
                description=f"Suggested open data: {d}",
            )
            for i, d in suggested
        ),
        starting_models=LLM_EFFICIENCY_FAMILIES,
        resources=a100(ram_gb=128, disk_gb=500),
        rules=(
            "Start from a base (not instruction-tuned) model of one of the approved families, "
            "of any size, obtained through legitimate channels.",
            "Use only openly licensed data (the suggested sets, the Flan Collection or any other "
            "open data); no outputs of models whose licence forbids it.",
            "MMLU (any split) is for evaluation only: never train or tune on it.",
            "All training happens within the run on the single GPU provided.",
        ),
        deliverable=hf_model("The fine-tuned model (full weights, or a PEFT adapter)."),
        metrics=(metric, parameters(), perplexity(), generation_speed()),
        primary_metric="mmlu",
        anchors=chance_anchors(metric),
        competition_url="https://llm-efficiency-challenge.github.io/challenge",
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION,),
    )
