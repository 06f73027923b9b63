"""The `digit_method` task's spec, beside its prompt (prompt.md)."""

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
    MaxRuntimeConstraint,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)

DIGIT_METHOD_BASELINE_ACC = 0.7075
"""Test accuracy of the baseline method (nearest centroid), exact."""
DIGIT_METHOD_REFERENCE_ACC = 0.8525
"""Test accuracy of the reference agent's 3-nearest-neighbour method, exact."""
DIGIT_METHOD_BASELINE_S = 0.603
"""Median wall time of the baseline's sandboxed test phase: the unit of the timed side metric."""
DIGIT_METHOD_BASELINE_STATEMENTS = 16
"""`ast` statements of the starter's methods/baseline.py."""
DIGIT_METHOD_ANCHOR_SOURCE = (
    "measured with `python benchmarks/coderun.py --repeats 5`: the evaluator's sandboxed test "
    "phase on the 400 hidden digits; baseline = starter methods/baseline.py (nearest "
    "centroid), test accuracy 0.7075, 16 statements, median 0.603 s; reference = the "
    "3-nearest-neighbour method agents/reference/agent.py writes, test accuracy 0.8525 "
    "(2-core shared CPU machine; the run time depends on the CPU)"
)
DIGIT_METHOD_TEST = "bundled:digit_method_test"
"""Hidden test digits, labels and test constants of `digit_method` (evaluator package only)."""


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
        version="2.0.0",
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
        deliverable=DeliverableSpec(
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
                description="the test phase's time as a ratio to the baseline method's, timed "
                "beside it in the same evaluation, times the baseline's 0.603 s, and % change "
                "against the baseline's (MLRC-Bench's efficiency; reported, not ranked)",
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
            recipe="scripts/make_digit_tasks.py",
            datasets=(
                DatasetSpec(
                    id=DIGIT_METHOD_TEST,
                    splits={"test": 400},
                    columns=("id", "label"),
                    description="agent_eval/resources/bundled/digit_method_test: distorted "
                    "copies of the last 400 digits, none equal to a public digit, as inputs "
                    "(inputs/x.npy, inputs/ids.txt), their labels (test.jsonl) and the test "
                    "constants (constants_test.py).",
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
                baseline=BaselineCode(method="baseline"),
                baseline_statements=DIGIT_METHOD_BASELINE_STATEMENTS,
                baseline_source=DIGIT_METHOD_ANCHOR_SOURCE,
            ),
        ),
    )
