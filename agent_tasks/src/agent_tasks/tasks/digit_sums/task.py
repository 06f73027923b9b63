"""The `digit_sums` task's spec, beside its prompt (prompt.md)."""

from __future__ import annotations

from agent_tasks.catalogue.assets import assets_of, prompt_of
from agent_tasks.catalogue.smoke import BENCHMARK, DIGITS_SOURCE
from agent_tasks.registry import task
from agent_tasks.spec import (
    BaselineCode,
    CodeRun,
    DatasetSpec,
    DeliverableSpec,
    EvaluationSpec,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)

# Anchors of the code smoke tasks (data version 2: distorted test digits, no public slice).
# Accuracies are exact and machine-independent: the evaluator's sandboxed re-runs of the
# baseline and reference deliverables (`python benchmarks/coderun.py`). Times are not: the
# evaluator times the agent's code as a ratio to the task's baseline code in the same evaluation
# (agent_eval.coderun.timing) and expresses it in the baseline's time on the machine below, so
# TWE's baseline anchor follows from the baseline's accuracy and that time by construction.
DIGIT_SUMS_BASELINE_S = 0.415
"""Median wall time of the starter's sandboxed re-run (`python benchmarks/coderun.py --repeats
5`, version 1 data, same counts and sizes; 2-core shared CPU machine, Python 3.11, numpy
2.4.6): the unit of digit_sums' timed score."""
DIGIT_SUMS_BASELINE_ACC = 109 / 300
"""Test accuracy of the starter as shipped (train.py defaults + main.py), exact."""
DIGIT_SUMS_REFERENCE_RATIO = 1.0736
"""Median time ratio of the reference deliverable to the starter's code beside it, over the 20
evaluations of `python benchmarks/timed_scores.py` (10 idle, 10 beside a CPU hog)."""
DIGIT_SUMS_BASELINE_TWE = round(DIGIT_SUMS_BASELINE_ACC**2 / (DIGIT_SUMS_BASELINE_S / 60), 2)
"""TWE of the starter as shipped: accuracy 0.3633 at ratio 1 (19.09)."""
DIGIT_SUMS_REFERENCE_TWE = round(
    0.42**2 / (DIGIT_SUMS_REFERENCE_RATIO * DIGIT_SUMS_BASELINE_S / 60), 2
)
"""TWE of the reference agent's deliverable (softmax, 1,000 epochs): accuracy 0.4200 (23.76)."""
DIGIT_SUMS_ANCHOR_SOURCE = (
    "accuracy exact from the evaluator's sandboxed re-runs on the 300 hidden images "
    "(`python benchmarks/coderun.py`; baseline: starter train.py defaults + main.py, accuracy "
    "0.3633; reference: agents/reference/agent.py, accuracy 0.4200), squared, over the time in "
    "minutes; a time is the deliverable's median ratio to the starter's code, timed beside it "
    "in the same evaluation, times the starter's 0.415 s (`python benchmarks/coderun.py "
    "--repeats 5` on a 2-core shared CPU machine), so the baseline scores its anchor on any "
    "machine; the reference's ratio is 1.0736, the median of its 20 evaluations in "
    "`python benchmarks/timed_scores.py`"
)
DIGIT_SUMS_TEST = "bundled:digit_sums_test"
"""Hidden test images and sums of `digit_sums`, shipped inside the evaluator package only."""


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
        version="2.0.0",
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
            "Use only the digits in the starter folder; the hidden test images are distorted "
            "versions of the last 400 digits of scikit-learn's set: never use those.",
            "main.py must not use the network; it runs offline.",
        ),
        deliverable=DeliverableSpec(
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
                description="accuracy squared over the minutes of the evaluator's own "
                "sandboxed re-runs of main.py on the 300 hidden images, timed as a ratio to the "
                "starter's code beside it and expressed in the starter's 0.415 s",
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
            recipe="scripts/make_digit_tasks.py",
            datasets=(
                DatasetSpec(
                    id=DIGIT_SUMS_TEST,
                    splits={"test": 300},
                    columns=("image_id", "digit_sum"),
                    description="agent_eval/resources/bundled/digit_sums_test: 300 images composed "
                    "from distorted copies of the last 400 digits, none equal to a public digit "
                    "(inputs/test/<image_id>.pgm) and their sums "
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
                baseline_runtime_s=DIGIT_SUMS_BASELINE_S,
                baseline=BaselineCode(
                    build=("{python}", "train.py", "--out", "{output}/weights.npz")
                ),
                baseline_source=DIGIT_SUMS_ANCHOR_SOURCE,
            ),
        ),
    )
