"""Tasks of the `smoke` benchmark: real tasks small enough to run end to end on a laptop CPU."""

from __future__ import annotations

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.registry import task
from agent_tasks.spec import (
    CodeRun,
    DatasetSpec,
    Deliverable,
    EvaluationSpec,
    MaxParametersConstraint,
    MaxRuntimeConstraint,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)

BENCHMARK = "smoke"

# Anchors of the code smoke tasks, measured with `python benchmarks/coderun.py --repeats 5`
# (medians of 5 evaluations each; process sandbox; 2-core shared CPU machine, Python 3.11,
# numpy 2.4.6). Accuracies are exact and machine-independent; times and TWE depend on the CPU.
DIGIT_SUMS_BASELINE_TWE = 67.51
"""TWE of the starter as shipped: train.py (nearest centroid) + main.py; accuracy 0.6833."""
DIGIT_SUMS_REFERENCE_TWE = 83.21
"""TWE of the reference agent's deliverable (softmax, 1,000 epochs); accuracy 0.7733."""
DIGIT_SUMS_ANCHOR_SOURCE = (
    "measured with `python benchmarks/coderun.py --repeats 5`: medians of the evaluator's "
    "own sandboxed re-runs on the 300 hidden images (baseline: starter train.py defaults + "
    "main.py, accuracy 0.6833, 0.415 s; reference: agents/reference/agent.py, accuracy "
    "0.7733, 0.431 s) on a 2-core shared CPU machine; the times, hence TWE, depend on the CPU "
    "and its load: the same script on the same machine, less loaded, measured 120.67 and 180.52"
)
DIGIT_METHOD_BASELINE_ACC = 0.8575
"""Test accuracy of the baseline method (nearest centroid), exact."""
DIGIT_METHOD_REFERENCE_ACC = 0.97
"""Test accuracy of the reference agent's 3-nearest-neighbour method, exact."""
DIGIT_METHOD_BASELINE_S = 0.603
"""Median wall time of the baseline's sandboxed test phase."""
DIGIT_METHOD_BASELINE_STATEMENTS = 16
"""`ast` statements of the starter's methods/baseline.py."""
DIGIT_METHOD_ANCHOR_SOURCE = (
    "measured with `python benchmarks/coderun.py --repeats 5`: the evaluator's sandboxed test "
    "phase on the 400 hidden digits; baseline = starter methods/baseline.py (nearest "
    "centroid), test accuracy 0.8575, 16 statements, median 0.603 s; reference = the "
    "3-nearest-neighbour method agents/reference/agent.py writes, test accuracy 0.9700 "
    "(2-core shared CPU machine; the run time depends on the CPU)"
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
        deliverable=Deliverable(
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


DIGITS_SOURCE = (
    "scikit-learn's bundled 8x8 digits (`sklearn.datasets.load_digits`, 1,797 images, no "
    "download); scripts/make_digit_tasks.py writes every file from them"
)
DIGIT_SUMS_TEST = "bundled:digit_sums_test"
"""Hidden test images and sums of `digit_sums`, shipped inside the evaluator package only."""
DIGIT_METHOD_TEST = "bundled:digit_method_test"
"""Hidden test digits, labels and test constants of `digit_method` (evaluator package only)."""


@task
def digit_sums() -> TaskSpec:
    """Budget-inference miniature: sum the digits in composed images, fast; TWE from a re-run."""
    name = "digit_sums"
    scored_on = {"dataset": DIGIT_SUMS_TEST, "split": "test", "label_column": "digit_sum"}
    return TaskSpec(
        name=name,
        benchmark=BENCHMARK,
        title="Digit sums on a budget (CPU miniature of budgeted inference)",
        summary="Predict the sum of the 2-4 handwritten digits in each 8x32 image; the "
        "benchmark re-runs your main.py on hidden images and scores accuracy² per minute.",
        prompt=prompt_of(name),
        version="1.0.0",
        datasets=(
            DatasetSpec(
                id="bundled:digit_sums_public",
                splits={"train": 1_397},
                columns=("x", "y"),
                description="`$TASK_DIR/starter/digits.npz`: the first 1,397 digits of "
                f"{DIGITS_SOURCE}.",
            ),
        ),
        resources=Resources(gpus=0, cpus=2, ram_gb=4, disk_gb=1, time_limit_s=600),
        rules=(
            "Use only the digits in the starter folder; the hidden test images are made from "
            "the last 400 digits of scikit-learn's set: never use those.",
            "main.py must not use the network; it runs offline.",
        ),
        deliverable=Deliverable(
            kind="code",
            path="main.py",
            description="`$OUTPUT_DIR/main.py` and everything it loads, such that `python "
            "main.py --data_dir DIR --output FILE` writes `image_id,digit_sum` for every "
            "`DIR/test/<image_id>.pgm`; the benchmark re-runs it on hidden images and times it.",
        ),
        metrics=(
            MetricSpec(
                name="twe",
                label="TWE (accuracy² / inference minutes)",
                direction="higher",
                unit="score",
                params=scored_on,
                description="accuracy squared over the wall-clock minutes of the evaluator's "
                "own sandboxed re-run of main.py on the 300 hidden images",
            ),
            MetricSpec(
                name="predictions_accuracy",
                label="Test accuracy",
                direction="higher",
                unit="accuracy",
                params=scored_on,
                chance=round(1 / 37, 4),
                description="share of hidden images whose sum the re-run predicted exactly",
            ),
        ),
        primary_metric="twe",
        anchors=ScoreAnchors(
            baseline=DIGIT_SUMS_BASELINE_TWE,
            baseline_label="starter train.py (nearest centroid) + main.py",
            reference=DIGIT_SUMS_REFERENCE_TWE,
            reference_label="reference agent (softmax regression, 1,000 epochs)",
            source=DIGIT_SUMS_ANCHOR_SOURCE,
        ),
        assets=assets_of(name),
        evaluation=EvaluationSpec(
            datasets=(
                DatasetSpec(
                    id=DIGIT_SUMS_TEST,
                    splits={"test": 300},
                    columns=("image_id", "digit_sum"),
                    description="agent_eval/resources/bundled/digit_sums_test: 300 images composed "
                    "from the last 400 digits (inputs/test/<image_id>.pgm) and their sums "
                    "(test.jsonl).",
                ),
            ),
            notes="Copy the deliverable into a read-only work folder, run main.py in the "
            "process sandbox on the hidden images, time it, score its CSV.",
            code_run=CodeRun(
                command=(
                    "{python}",
                    "main.py",
                    "--data_dir",
                    "{inputs}",
                    "--output",
                    "{output}/submission.csv",
                ),
                inputs=DIGIT_SUMS_TEST,
                output_file="submission.csv",
                time_limit_s=60,
                memory_gb=2,
            ),
        ),
    )


@task
def digit_method() -> TaskSpec:
    """MLRC-structured miniature: a digit-classification method plugin, re-run in a test phase."""
    name = "digit_method"
    scored_on = {"dataset": DIGIT_METHOD_TEST, "split": "test", "label_column": "label"}
    return TaskSpec(
        name=name,
        benchmark=BENCHMARK,
        title="A digit-classification method, MLRC-Bench style (CPU miniature)",
        summary="Write a method plugin for a fixed framework (main.py -m METHOD -p dev|test); "
        "the benchmark restores the framework, swaps in hidden test data and runs the test "
        "phase itself.",
        prompt=prompt_of(name),
        version="1.0.0",
        datasets=(
            DatasetSpec(
                id="bundled:digit_method_public",
                splits={"train": 1_000, "dev": 397},
                columns=("x", "y"),
                description="`$TASK_DIR/starter/data/{train,dev}.npz`: the first 1,397 digits "
                f"of {DIGITS_SOURCE}.",
            ),
        ),
        resources=Resources(gpus=0, cpus=2, ram_gb=4, disk_gb=1, time_limit_s=600),
        rules=(
            "main.py, evaluation.py and constants.py are restored from a pristine copy before "
            "the test phase; only methods/ counts.",
            "Write your method in methods/<name>.py and register it as <name>; it must learn "
            "from the data it is given, never read or hard-code test labels.",
            "The method runs offline; it must not use the network.",
        ),
        constraints=(
            MaxRuntimeConstraint(
                limit_s=60, phase="test_run", description="one `main.py -p test` run"
            ),
        ),
        deliverable=Deliverable(
            kind="method",
            path="methods",
            description="`$OUTPUT_DIR/methods/` (the methods package with your method "
            'registered) and `$OUTPUT_DIR/submission.json` `{"method": "<name>"}`.',
        ),
        metrics=(
            MetricSpec(
                name="predictions_accuracy",
                label="Test accuracy",
                direction="higher",
                unit="accuracy",
                params={**scored_on, "id_column": "id"},
                chance=0.1,
                description="share of the 400 hidden digits the test phase labelled right",
            ),
            MetricSpec(
                name="code_runtime",
                label="Efficiency: test-phase seconds",
                direction="lower",
                unit="s",
                description="wall time of the evaluator's re-run, and % change against the "
                "baseline's (MLRC-Bench's efficiency; reported, not ranked)",
            ),
            MetricSpec(
                name="code_statements",
                label="Simplicity: statements in the method file",
                direction="lower",
                unit="statements",
                description="`ast` statement count of methods/<name>.py, and % change against "
                "the baseline's (MLRC-Bench's simplicity; reported, not ranked)",
            ),
        ),
        primary_metric="predictions_accuracy",
        anchors=ScoreAnchors(
            baseline=DIGIT_METHOD_BASELINE_ACC,
            baseline_label="baseline method (nearest centroid), test phase",
            reference=DIGIT_METHOD_REFERENCE_ACC,
            reference_label="reference agent's method (3-nearest neighbours), test phase",
            source=DIGIT_METHOD_ANCHOR_SOURCE,
        ),
        assets=assets_of(name),
        evaluation=EvaluationSpec(
            datasets=(
                DatasetSpec(
                    id=DIGIT_METHOD_TEST,
                    splits={"test": 400},
                    columns=("id", "label"),
                    description="agent_eval/resources/bundled/digit_method_test: the last 400 "
                    "digits as inputs (inputs/x.npy, inputs/ids.txt), their labels "
                    "(test.jsonl) and the test constants (constants_test.py).",
                ),
            ),
            notes="MLRC-Bench's test phase: pristine starter folder + the agent's methods/, "
            "read-only files restored, test constants swapped in, `main.py -m METHOD -p test` "
            "in the process sandbox; the predictions are scored here, outside the sandbox.",
            code_run=CodeRun(
                command=("{python}", "main.py", "-m", "{method}", "-p", "test"),
                inputs=DIGIT_METHOD_TEST,
                output_file="test_predictions.csv",
                pristine="starter",
                protected=("main.py", "evaluation.py", "constants.py"),
                test_constants=f"{DIGIT_METHOD_TEST}/constants_test.py",
                method_file="methods/{method}.py",
                time_limit_s=60,
                memory_gb=2,
                baseline_runtime_s=DIGIT_METHOD_BASELINE_S,
                baseline_statements=DIGIT_METHOD_BASELINE_STATEMENTS,
                baseline_source=DIGIT_METHOD_ANCHOR_SOURCE,
            ),
        ),
    )
