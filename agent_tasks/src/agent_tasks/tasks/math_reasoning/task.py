"""The `math_reasoning` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.catalogue.full_benchmark import (
    BENCHMARK,
    GPU_DECISION,
    MATH,
    MATH_HELDOUT_RULE,
    MATH_HELDOUT_SPLIT,
    MLRB_PAPER,
    VERSION,
    a100,
    generation_params,
    hf_model,
)
from agent_tasks.registry import task
from agent_tasks.spec import (
    DatasetSpec,
    Decision,
    EvaluationSpec,
    MetricSpec,
    ScoreAnchors,
    TaskSpec,
)


def bleu() -> MetricSpec:
    """Corpus BLEU of generated Lean 3 proofs against the references."""
    return MetricSpec(
        name="bleu",
        label="BLEU of formal proofs",
        direction="higher",
        unit="BLEU (0-100)",
        params=generation_params(),
        description="corpus BLEU of greedy generations against the reference formal proofs of "
        "the held-out rows",
    )


def rouge_l() -> MetricSpec:
    """ROUGE-L F1 of generated Lean 3 proofs against the references."""
    return MetricSpec(
        name="rouge_l",
        label="ROUGE-L of formal proofs",
        direction="higher",
        unit="F1 (0-1)",
        params=generation_params(),
        description="mean ROUGE-L F1 of the same generations against the same references",
    )


MATH_HELDOUT_DECISION = Decision(
    topic="math_reasoning held-out rows: the dataset has a single train split",
    choice="the evaluator scores the last 400 train rows (about 10%); agents are told which rows "
    "these are and must not train on them",
    source="The MLRB prompt asks for evaluation 'on a portion of the data provided' without "
    "saying which, and the challenge's own test set is not public. A fixed, published slice "
    "keeps scores reproducible and lets an honest agent leave the scored rows alone.",
)
MATH_METRIC_DECISION = Decision(
    topic="math_reasoning metric: BLEU/ROUGE on formal proofs or MMLU math subjects",
    choice="BLEU (primary) and ROUGE-L of generated Lean 3 against reference formal proofs",
    source="The task is autoformalization (ICML 2024 AI4Math Track 1-1), whose output is Lean "
    "text; an older MLRB script scored MMLU high-school maths/statistics/computer science, "
    "which does not measure formalisation. Lean 3 compile rate is not scored: the evaluator "
    "has no Lean 3 toolchain.",
)


@task
def math_reasoning() -> TaskSpec:
    """ICML 2024 AI4Math Track 1-1: translate informal proofs into Lean 3."""
    return TaskSpec(
        name="math_reasoning",
        benchmark=BENCHMARK,
        title="Autoformalization: natural-language proofs into Lean 3",
        summary="Train a model that turns a natural-language statement and proof into the "
        "corresponding Lean 3 formal statement and proof.",
        prompt=prompt_of("math_reasoning"),
        version=VERSION,
        datasets=(MATH,),
        resources=a100(),
        rules=(
            MATH_HELDOUT_RULE,
            "Any openly licensed model may be the starting point; other open datasets are "
            "allowed in addition to the given one.",
            "The model must produce the formal text itself: no calls to external services at "
            "evaluation.",
        ),
        deliverable=hf_model(
            "The model (causal or sequence-to-sequence) that, given the evaluator's prompt, "
            "generates the Lean 3 formal statement and proof and then stops (end-of-sequence).",
            note="It must load with `AutoModelForCausalLM` or `AutoModelForSeq2SeqLM` (or as a "
            "PEFT adapter whose config names its base model) together with its tokenizer, "
            "without network access.",
        ),
        metrics=(bleu(), rouge_l()),
        primary_metric="bleu",
        anchors=ScoreAnchors(
            baseline=0.0,
            baseline_label="BLEU of output sharing no n-gram with the references",
            reference=100.0,
            reference_label="BLEU of output identical to the references",
            source="no published score to anchor on (no MLRB run in arXiv 2410.22553 produced "
            "compilable Lean 3); the anchors are the ends of BLEU's own range",
        ),
        competition_url="https://sites.google.com/view/ai4mathworkshopicml2024/challenges",
        paper_url=MLRB_PAPER,
        decisions=(GPU_DECISION, MATH_HELDOUT_DECISION, MATH_METRIC_DECISION),
        evaluation=EvaluationSpec(
            datasets=(
                DatasetSpec(
                    id=MATH.id,
                    revision=MATH.revision,
                    splits={MATH_HELDOUT_SPLIT: 400},
                    columns=MATH.columns,
                    description="The held-out rows, with their reference formal proofs; "
                    "fetched into the evaluator image when it is built.",
                ),
            ),
            notes="Prompt each held-out row with the metric's `prompt_template`, greedy "
            "decoding up to 512 new tokens, cut at the first end-of-sequence; score the "
            "generations against `formal_proof` with corpus BLEU (sacrebleu defaults) and "
            "ROUGE-L F1.",
        ),
    )
