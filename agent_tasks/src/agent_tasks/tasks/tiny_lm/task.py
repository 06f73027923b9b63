"""The `tiny_lm` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.catalogue.smoke import BENCHMARK
from agent_tasks.registry import task
from agent_tasks.spec import (
    DatasetSpec,
    DeliverableSpec,
    EvaluationSpec,
    MaxParametersConstraint,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)

TINY_LM_HELDOUT = "bundled:tiny_lm_heldout"
"""The hidden held-out stories, shipped inside the evaluator package only."""


@task
def tiny_lm() -> TaskSpec:
    """Train a tiny causal LM on a bundled story corpus; scored by bits per byte on hidden text."""
    name = "tiny_lm"
    scored_on = {"dataset": TINY_LM_HELDOUT}
    return TaskSpec(
        name=name,
        benchmark=BENCHMARK,
        title="Tiny language model on the CPU",
        summary="Train a language model of at most 5M parameters from scratch on 200 KB of "
        "generated stories, on 2 CPU cores in 10 minutes; lowest bits per byte on hidden "
        "stories wins.",
        prompt=prompt_of(name),
        version="1.0.0",
        datasets=(
            DatasetSpec(
                id="bundled:tiny_lm_train",
                splits={"train": 393},
                description="`$TASK_DIR/starter/train.txt`: 200,133 bytes of UTF-8 text, 393 "
                "short stories separated by blank lines, from a seeded story generator "
                "(scripts/make_smoke_corpus.py, seed 20240611).",
            ),
        ),
        from_scratch=True,
        resources=Resources(gpus=0, cpus=2, ram_gb=4, disk_gb=2, time_limit_s=600),
        rules=(
            "Train only on the text in `$TASK_DIR/starter/train.txt`; no pretrained weights, "
            "embeddings or tokenizers from elsewhere, and no other text.",
            "The model must load with `AutoModelForCausalLM.from_pretrained` and its tokenizer "
            "with `AutoTokenizer.from_pretrained` from the delivered folder, without "
            "`trust_remote_code`.",
            "The tokenizer must encode any UTF-8 text without losing bytes (a byte-level "
            "tokenizer, as in the starter, does this).",
        ),
        constraints=(
            MaxParametersConstraint(
                limit=5_000_000,
                description="counted by the evaluator over every parameter of the loaded model",
            ),
        ),
        deliverable=DeliverableSpec(
            kind="hf_model",
            path="model",
            description="A causal language model and its tokenizer in Hugging Face layout "
            "(`config.json`, weights, tokenizer files), trained from scratch on the given "
            "corpus.",
        ),
        metrics=(
            MetricSpec(
                name="bits_per_byte",
                label="Held-out bits per byte",
                direction="lower",
                unit="bits/byte",
                params=scored_on,
                description="total negative log-likelihood of the hidden held-out stories in "
                "bits, divided by their UTF-8 byte count (strided sliding window over the "
                "model's context); independent of the tokenizer",
            ),
            MetricSpec(
                name="perplexity",
                label="Held-out perplexity",
                direction="lower",
                unit="perplexity",
                params=scored_on,
                description="exp of the mean negative log-likelihood per token on the same "
                "text; depends on the tokenizer, so compare it only between equal tokenizers",
            ),
            MetricSpec(
                name="parameters",
                label="Parameters",
                direction="lower",
                unit="count",
                description="total parameter count of the delivered model",
            ),
        ),
        primary_metric="bits_per_byte",
        anchors=ScoreAnchors(
            baseline=4.4225,
            baseline_label="byte-unigram model of the training text",
            reference=0.1718,
            reference_label="starter train.py run with its defaults",
            source="measured with `python scripts/make_smoke_corpus.py --anchors --model "
            "MODEL`. Baseline: the add-one-smoothed byte-unigram distribution of train.txt "
            "scored on the held-out text (exact; no training). Reference: starter train.py with "
            "its default settings (500 steps, batch 16, 4 layers x 128, 4 heads, context 128, "
            "BPE vocabulary 1024 requested / 944 learned, 930,560 parameters, seed 0, 1 "
            "thread), scored on the held-out text with a strided sliding window (window "
            "128 tokens, stride 64); torch 2.13.0 CPU, transformers 5.23.0, tokenizers 0.23.3",
        ),
        assets=assets_of(name),
        evaluation=EvaluationSpec(
            recipe="scripts/make_smoke_corpus.py",
            datasets=(
                DatasetSpec(
                    id=TINY_LM_HELDOUT,
                    splits={"test": 60},
                    description="agent_eval/resources/bundled/tiny_lm_heldout/heldout.txt: 30,090 "
                    "bytes, 60 stories from the same generator with another seed (77031); "
                    "none of them occurs in the training text.",
                ),
            ),
            notes="Load the model and tokenizer read-only; score bits_per_byte and perplexity "
            "on heldout.txt with the metric defaults (window = the model's context, stride = "
            "half of it); count parameters and check the 5M cap.",
        ),
    )
