"""What the `full_benchmark` tasks share: the MLRB challenges, 24 h on one A100 40 GB.

Each task's spec lives in its folder (``agent_tasks/tasks/<name>/task.py``); the metric builders,
datasets and decisions here are shared by them and by ``mini_benchmark``, whose tasks are
scaled-down variants of these.
"""

from __future__ import annotations

from typing import Any

from agent_tasks.catalogue.revisions import hub_revision
from agent_tasks.spec import (
    AllowedDtypesConstraint,
    CodeRun,
    DatasetSpec,
    Decision,
    DeliverableSpec,
    MaxMemoryConstraint,
    MetricSpec,
    NoQuantizationConstraint,
    Resources,
    ScoreAnchors,
)

BENCHMARK = "full_benchmark"
VERSION = "1.0.0"
DAY_S = 86_400
MLRB_PAPER = "https://arxiv.org/abs/2410.22553"
MLRB_FACTS = "the public MLRB material (task prompts and READMEs, arXiv 2410.22553)"
ORG = "AlgorithmicResearchGroup"
GPU_DECISION = Decision(
    topic="GPU memory of the reference card: A100 40 GB or 80 GB",
    choice="one A100 with 40 GB",
    source="The MLRB task definitions state 'one A100 40GB GPU' for every full task; 80 GB "
    "appears elsewhere in the public material. The 40 GB card is also the A100 track of the "
    "NeurIPS 2023 LLM Efficiency Challenge the first task comes from. Limits are set for the "
    "smaller card, and a method that fits 40 GB also runs on 80 GB.",
)
SUPERGLUE_DECISION = Decision(
    topic="SuperGLUE task name in lm-eval: 'super-glue-lm-eval-v1' or 'super_glue'",
    choice="super-glue-lm-eval-v1",
    source="The current MLRB evaluation commands use it, and lm-eval 0.4.13 (the pinned "
    "version) defines 'super-glue-lm-eval-v1' over BoolQ, CB, COPA, MultiRC, ReCoRD, RTE, WiC "
    "and WSC; no task or group named 'super_glue' exists there (an older MLRB script used it).",
)
LM_EVAL_NOTE = "lm-eval 0.4.13, Hugging Face backend, 0-shot, batch size 8 (the MLRB commands)"


def mmlu() -> MetricSpec:
    """MMLU accuracy through lm-eval's `mmlu` group."""
    return MetricSpec(
        name="mmlu",
        label="MMLU accuracy",
        direction="higher",
        unit="accuracy",
        params={"num_fewshot": 0, "batch_size": 8, "tasks": "mmlu"},
        chance=0.25,
        description=f"mean accuracy over the 57 MMLU subjects; {LM_EVAL_NOTE}",
    )


SUPERGLUE_CHANCE = round((6 * 0.5 + 1 / 3) / 7, 4)
"""Nominal chance level: the mean of 1/k over the seven accuracy-scored subtasks (CB has three
labels, the rest two). The metric averages eight (ReCoRD's exact match too) and measures the
chance level of all eight on the rows it scores; that measured level is what scores use."""


def superglue() -> MetricSpec:
    """Mean SuperGLUE accuracy through lm-eval's `super-glue-lm-eval-v1` tasks."""
    return MetricSpec(
        name="superglue",
        label="SuperGLUE average accuracy",
        direction="higher",
        unit="accuracy",
        params={"num_fewshot": 0, "batch_size": 8, "tasks": "super-glue-lm-eval-v1"},
        chance=SUPERGLUE_CHANCE,
        chance_measured=True,
        description="mean over the eight super-glue-lm-eval-v1 subtasks (accuracy; ReCoRD: "
        f"exact match); {LM_EVAL_NOTE}; the chance level scored against is measured on the rows "
        "scored (1/k per accuracy subtask, ReCoRD: expected exact match of a random candidate "
        f"entity); {SUPERGLUE_CHANCE} is the nominal level of the seven accuracy subtasks",
    )


def parameters() -> MetricSpec:
    """Total parameter count of the delivered model."""
    return MetricSpec(
        name="parameters",
        label="Parameters",
        direction="lower",
        unit="count",
        description="total parameters (trainable and frozen), tied weights counted once",
    )


def perplexity() -> MetricSpec:
    """Perplexity on the wikitext-2-raw-v1 test text."""
    return MetricSpec(
        name="perplexity",
        label="WikiText-2 perplexity",
        direction="lower",
        unit="perplexity",
        params={"dataset": "wikitext2"},
        description="exp of the mean token NLL over the whole wikitext-2-raw-v1 test text, "
        "strided sliding window over the model's context",
    )


def generation_speed() -> MetricSpec:
    """Greedy generation throughput."""
    return MetricSpec(
        name="generation_speed",
        label="Generation speed",
        direction="higher",
        unit="tokens/s",
        params={"prompt_tokens": 128, "new_tokens": 128, "repeats": 5, "warmup": 1},
        description="new tokens per second, greedy decoding, median of repeats after warm-up",
    )


def peak_memory(device: str) -> MetricSpec:
    """Peak memory while the model runs."""
    return MetricSpec(
        name="peak_memory",
        label="Peak memory",
        direction="lower",
        unit="GB",
        params={"device": device},
        description=f"peak {device.upper()} memory while the model runs the evaluation",
    )


MATH_PROMPT = (
    "Natural language statement:\n{informal_statement}\n"
    "Natural language proof:\n{informal_proof}\n"
    "Lean 3 formal statement and proof:\n"
)
"""How the evaluator prompts the model for one row; the generation is compared to formal_proof."""


def generation_params() -> dict[str, str | int | float | bool]:
    return {
        "dataset": MATH.id,
        "split": MATH_HELDOUT_SPLIT,
        "max_new_tokens": 512,
        "prompt_template": MATH_PROMPT,
    }


def twe(dataset: str, label_column: str) -> MetricSpec:
    """Time-weighted efficiency of a predictions run."""
    return MetricSpec(
        name="twe",
        label="TWE (accuracy² / inference minutes)",
        direction="higher",
        unit="score",
        params={"dataset": dataset, "split": "test", "label_column": label_column},
        description="accuracy squared, divided by the wall-clock minutes of the benchmark's "
        "timed run of `python main.py --data_dir <test images>`",
    )


def predictions_accuracy(dataset: str, label_column: str, chance: float) -> MetricSpec:
    """Plain accuracy of the predictions CSV."""
    return MetricSpec(
        name="predictions_accuracy",
        label="Test accuracy",
        direction="higher",
        unit="accuracy",
        params={"dataset": dataset, "split": "test", "label_column": label_column},
        chance=chance,
        description="share of test images whose predicted value equals the hidden label",
    )


def chance_anchors(metric: MetricSpec) -> ScoreAnchors:
    """No published anchors: the score is rescaled from the metric's chance level."""
    return ScoreAnchors(
        source=f"no published result for this task to anchor on; the normalised score rescales "
        f"{metric.label} from its chance level {metric.chance:g} (chance = 0, perfect = 100)",
    )


TWE_ANCHORS = ScoreAnchors(
    baseline=0.0,
    baseline_label="TWE of a model that gets nothing right",
    reference=1.0,
    reference_label="TWE of a model that gets every image right in one minute of inference",
    source="no published TWE exists for this task; both anchors follow from the definition "
    "TWE = accuracy² / inference minutes, so faster-than-a-minute runs can exceed 100",
)


def hub_dataset(name: str, **fields: Any) -> DatasetSpec:
    """A dataset of the benchmark's Hub organisation, at its pinned commit (once pinned)."""
    dataset_id = f"{ORG}/{name}"
    return DatasetSpec(id=dataset_id, revision=hub_revision(dataset_id), **fields)


MATH = hub_dataset(
    "math_reasoning_autoformalization_track",
    splits={"train": 3_963},
    columns=("name", "informal_statement", "informal_proof", "formal_proof"),
    description="Informal statements and proofs with their Lean 3 formalisations. The last "
    "400 rows of the train split are held out for scoring (see the rules).",
)
MATH_HELDOUT_SPLIT = "train[-400:]"
"""The rows scored: the last 400 of the 3,963 train rows, in the dataset's order."""
MATH_HELDOUT_RULE = (
    f"The last 400 rows of the train split (`{MATH_HELDOUT_SPLIT}` in `datasets` notation, rows "
    "3,563 to 3,962 in dataset order) are held out for scoring: never train or tune on them, "
    "nor on their formal proofs from any other source."
)
HF_MODEL_NOTE = (
    "It must load with `AutoModelForCausalLM.from_pretrained` (or as a PEFT adapter whose "
    "config names its base model) together with its tokenizer, without network access."
)


def a100(time_limit_s: int = DAY_S, **extra: float | int) -> Resources:
    """One A100 40 GB for ``time_limit_s`` seconds, plus any extra limits."""
    return Resources(gpus=1, gpu_type="A100", gpu_memory_gb=40, time_limit_s=time_limit_s, **extra)


def hf_model(what: str, note: str = HF_MODEL_NOTE) -> DeliverableSpec:
    """A Hugging Face model folder at ``$OUTPUT_DIR/model``."""
    return DeliverableSpec(kind="hf_model", path="model", description=f"{what} {note}")


BUDGET_RERUN_LIMIT_S = 3600
"""Wall-clock limit of the evaluator's re-run of a budget task's main.py (no published limit;
an hour is ample for a few thousand images and bounds a hung run)."""


def budget_code_run(dataset: str, memory_gb: float) -> CodeRun:
    """The evaluator's timed re-run of a budget task's ``main.py`` on the hidden test images."""
    return CodeRun(
        command=(
            "{python}",
            "main.py",
            "--data_dir",
            "{inputs}",
            "--output",
            "{output}/submission.csv",
        ),
        inputs=f"{dataset}:test",
        output_file="submission.csv",
        time_limit_s=BUDGET_RERUN_LIMIT_S,
        memory_gb=memory_gb,
        gpus=1,
    )


def budget_deliverable(label: str, what: str) -> DeliverableSpec:
    return DeliverableSpec(
        kind="predictions_csv",
        path="submission.csv",
        columns=("image_id", label),
        description=f"`$OUTPUT_DIR/main.py` with everything it loads (weights, code) inside "
        f"`$OUTPUT_DIR`, such that `python main.py --data_dir DIR --output FILE`, run offline "
        f"with a read-only copy of `$OUTPUT_DIR` as the working directory, reads the images in "
        f"`DIR/test/` (files named `<image_id>.<ext>`) and writes the CSV to FILE: one row per "
        f"image with {what}. After the session the benchmark re-runs it itself on the hidden "
        f"test images, in a sandbox, and times the run (that time enters the score); leave a "
        f"`submission.csv` from your own run on images you held out, as a check.",
    )


def edge_constraints() -> tuple[
    AllowedDtypesConstraint, NoQuantizationConstraint, MaxMemoryConstraint
]:
    return (
        AllowedDtypesConstraint(dtypes=("float32", "float16")),
        NoQuantizationConstraint(),
        MaxMemoryConstraint(
            limit_gb=12,
            device="cpu",
            phase="inference",
            description="the model must run on a smartphone-class device with 12 GB of DRAM",
        ),
    )


EDGE_URL = "https://edge-llms-challenge.github.io/edge-llm-challenge.github.io/challenge"
