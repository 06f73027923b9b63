"""Tasks of the `mlrc_bench` benchmark: the seven MLRC-Bench research-competition tasks.

Facts (metrics, limits, baselines, top-human improvements, agent budgets) follow MLRC-Bench,
arXiv 2504.09702. Every task shares one shape: the agent works in the task's MLRC-Bench folder
and delivers a method; the test phase is run afterwards, by the framework, on hidden data.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.registry import task
from agent_tasks.spec import (
    CodeRun,
    Decision,
    Deliverable,
    EvaluationSpec,
    MaxRuntimeConstraint,
    MetricSpec,
    Resources,
    ScoreAnchors,
    TaskSpec,
)

BENCHMARK = "mlrc_bench"
PAPER_URL = "https://arxiv.org/abs/2504.09702"
SOURCE = "MLRC-Bench (arXiv 2504.09702)"
AGENT_BUDGET_S = 5 * 3600
"""Agent time per trial in the paper (50 steps, 5 h, $10 of API calls)."""

WORKFLOW = """\
## How this task works

You work in the task's MLRC-Bench folder, which your agent's image brings with it (the
MLRC-Bench task environment: its code and development data are not part of `$TASK_DIR`). It
holds `main.py` (run a method: `python main.py
-m METHOD -p dev`), `evaluation.py` and `constants.py`, which are read-only, a `methods/`
package with a base class and the baseline method (a new method is a new class registered by
name in `methods/__init__.py`), and the development data. The test data and test constants
are hidden from you.

Develop on the dev phase: run the baseline first to see its dev score, then implement and
register your own method and compare. Only your method's code counts: changes to the
read-only files are undone before scoring.

When you stop, the test phase is run for you: every read-only file is restored from a pristine
copy, the hidden test data are put in place, and your submitted method runs once with
`-p test` under the task's runtime limit. A method that exceeds the limit, crashes or writes
no valid output gets no score.
"""


@dataclass(frozen=True)
class _Facts:
    """What distinguishes one MLRC-Bench task."""

    name: str
    key: str
    title: str
    summary: str
    competition_url: str
    metric_label: str
    metric_unit: str
    metric_description: str
    baseline_dev: float | None
    baseline_test: float | None
    human_pct: float
    runtime_limit_s: int
    gpu_memory_gb: float
    agent_budget_s: int = AGENT_BUDGET_S


ENVIRONMENT_IMAGE = "mlrb/mlrc-{key}:1"
"""Name of a task's environment image: MLRC-Bench's task folder at ``TASK_FOLDER`` with its
dependencies and the development data (built from MLRC-Bench's repository, never pulled)."""
TASK_FOLDER = "/mlrc/{key}"
"""Where the pristine task folder lives inside the environment image."""
TEST_DATA = "mlrc/{key}"
"""Folder of the evaluator's data folder with a task's hidden test material: the test inputs
(``code_inputs/mlrc-bench__<key>/test/``), ``constants_test.py`` and ``labels/``."""
TEST_MEMORY_GB = 64
"""Host memory of the test-phase container (MLRC-Bench limits GPU memory only)."""


SIDE_METRICS = (
    MetricSpec(
        name="code_runtime",
        label="Efficiency: test-phase seconds",
        direction="lower",
        unit="s",
        description="wall time of the evaluator's re-run of the test phase (MLRC-Bench's "
        "efficiency; reported, not ranked; the % change against the baseline needs the "
        "baseline's re-run time in the spec)",
    ),
    MetricSpec(
        name="code_statements",
        label="Simplicity: statements in the method file",
        direction="lower",
        unit="statements",
        description="`ast` statement count of methods/<method>.py (MLRC-Bench's simplicity; "
        "reported, not ranked)",
    ),
)
"""MLRC-Bench's side metrics, computed from the evaluator's own re-run."""


def code_run(facts: _Facts) -> CodeRun:
    """MLRC-Bench's test phase as a re-run: the method in the environment image, then its
    scorer in a second container that has the labels and none of the agent's code."""
    data = TEST_DATA.format(key=facts.key)
    return CodeRun(
        command=("{python}", "main.py", "-m", "{method}", "-p", "test"),
        inputs=f"mlrc-bench/{facts.key}:test",
        output_file="test_predictions.json",
        pristine=TASK_FOLDER.format(key=facts.key),
        protected=("main.py", "evaluation.py", "constants.py"),
        test_constants=f"{data}/constants_test.py",
        method_file="methods/{method}.py",
        image=ENVIRONMENT_IMAGE.format(key=facts.key),
        scorer=("{python}", "score.py", "--predictions", "{output}", "--labels", "{labels}"),
        labels=f"{data}/labels",
        time_limit_s=facts.runtime_limit_s,
        memory_gb=TEST_MEMORY_GB,
        gpus=1,
    )


def _spec(facts: _Facts, *, decisions: tuple[Decision, ...] = ()) -> TaskSpec:
    """A full spec from one task's facts; every MLRC-Bench task shares the rest."""
    dev = "not published" if facts.baseline_dev is None else f"{facts.baseline_dev:g}"
    return TaskSpec(
        name=facts.name,
        benchmark=BENCHMARK,
        title=facts.title,
        summary=facts.summary,
        prompt=prompt_of(facts.name) + "\n" + WORKFLOW,
        version="1.0.0",
        resources=Resources(
            gpus=1,
            gpu_memory_gb=facts.gpu_memory_gb,
            time_limit_s=facts.agent_budget_s,
        ),
        rules=(
            "Do not modify `main.py`, `evaluation.py`, `constants.py` or the data; they are "
            "restored from a pristine copy before the test phase.",
            "Your method must not read the test data, look up test labels, or hard-code "
            "answers; it must be a general method that runs on data it has not seen.",
            "Your method may use the models and libraries available in the task folder's "
            "environment; it must not need the network during the test phase.",
            f"The baseline method's dev score is {dev}; beating it on dev is the first goal.",
        ),
        constraints=(
            MaxRuntimeConstraint(
                limit_s=facts.runtime_limit_s,
                phase="test_run",
                description=f"one `main.py -p test` run of your method on a single GPU with "
                f"{facts.gpu_memory_gb:g} GB",
            ),
        ),
        deliverable=Deliverable(
            kind="method",
            path="methods",
            description="Your method's code: a copy of the task folder's `methods/` package "
            "with your method implemented and registered by name in `methods/__init__.py`, "
            'and `$OUTPUT_DIR/submission.json` naming it as `{"method": "<name>"}`.',
        ),
        metrics=(
            MetricSpec(
                name="mlrc_score",
                label=facts.metric_label,
                direction="higher",
                unit=facts.metric_unit,
                params={"key": facts.key},
                description=facts.metric_description,
            ),
            *SIDE_METRICS,
        ),
        primary_metric="mlrc_score",
        anchors=ScoreAnchors(
            baseline=facts.baseline_test,
            baseline_label="MLRC-Bench baseline method (test phase)",
            reference_improvement_pct=facts.human_pct,
            reference_label="top human in the competition",
            source=f"{SOURCE}: baseline = the task table's test-phase baseline score; "
            f"reference = +{facts.human_pct:g} % over the baseline, the 'Top human in "
            "competition' row of the table of absolute improvement over baseline",
        ),
        competition_url=facts.competition_url,
        paper_url=PAPER_URL,
        decisions=decisions,
        aliases=(facts.key,),
        evaluation=EvaluationSpec(
            notes=f"MLRC-Bench task {facts.key!r}: restore the read-only files, swap in the "
            "hidden test data and constants, run `main.py -m <method from submission.json> "
            "-p test` once under the runtime limit, then score its predictions with the "
            "environment's scorer in a separate container that holds the labels.",
            code_run=code_run(facts),
        ),
    )


@task
def mlrc_llm_merging() -> TaskSpec:
    """NeurIPS 2024 LLM Merging: merge expert models into one that generalises."""
    return _spec(
        _Facts(
            name="mlrc_llm_merging",
            key="llm-merging",
            title="LLM merging (MLRC-Bench)",
            summary="Merge public fine-tuned expert LLMs into one model that does well on "
            "held-out tasks; merge plus evaluation within 1 hour.",
            competition_url="https://llm-merging.github.io",
            metric_label="Hidden-test accuracy / ROUGE mix",
            metric_unit="score (0-1)",
            metric_description="the competition's hidden-test score of the merged model: a "
            "mix of accuracy and ROUGE over held-out tasks, from 0 to 1",
            baseline_dev=0.7271,
            baseline_test=0.4933,
            human_pct=68.2,
            runtime_limit_s=3600,
            gpu_memory_gb=48,
        )
    )


@task
def mlrc_backdoor_trigger_recovery() -> TaskSpec:
    """NeurIPS 2024 CLAS: recover the triggers planted in a backdoored code model."""
    return _spec(
        _Facts(
            name="mlrc_backdoor_trigger_recovery",
            key="backdoor-trigger-recovery",
            title="Backdoor trigger recovery (MLRC-Bench)",
            summary="Recover the trigger phrases that make a poisoned code-generation LLM "
            "emit given malicious targets.",
            competition_url="https://www.llmagentsafetycomp24.com/tracks/#backdoor_model",
            metric_label="0.5 x (BLEU recall + attack success rate) x 100",
            metric_unit="score (0-100)",
            metric_description="mean of the recall of the true triggers (BLEU) and the attack "
            "success rate of the proposed triggers, times 100",
            baseline_dev=3.76,
            baseline_test=9.37,
            human_pct=621.3,
            runtime_limit_s=1800,
            gpu_memory_gb=48,
        )
    )


@task
def mlrc_temporal_action_loc() -> TaskSpec:
    """ECCV 2024 Perception Test: localise actions in time in untrimmed videos."""
    return _spec(
        _Facts(
            name="mlrc_temporal_action_loc",
            key="perception_temporal_action_loc",
            title="Temporal action localisation (MLRC-Bench)",
            summary="Detect the start, end and class of every action in untrimmed videos "
            "from video and audio features.",
            competition_url="https://ptchallenge-workshop.github.io",
            metric_label="mAP over IoU 0.1-0.5",
            metric_unit="mAP (0-1)",
            metric_description="mean average precision of the detected action segments, "
            "averaged over temporal IoU thresholds 0.1 to 0.5",
            baseline_dev=0.2370,
            baseline_test=0.1264,
            human_pct=284.6,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )


@task
def mlrc_rainfall_prediction() -> TaskSpec:
    """NeurIPS 2023 Weather4cast: forecast high-resolution rain rates from satellite images."""
    return _spec(
        _Facts(
            name="mlrc_rainfall_prediction",
            key="weather_forcast",
            title="Rainfall prediction (MLRC-Bench)",
            summary="Forecast future high-resolution radar rain rates from sequences of "
            "satellite images.",
            competition_url="https://weather4cast.net/neurips-2023/",
            metric_label="Mean CSI at 0.2, 1, 5, 10, 15 mm/h",
            metric_unit="CSI (0-1)",
            metric_description="critical success index of the predicted rain maps at the "
            "thresholds 0.2, 1, 5, 10 and 15 mm/h, averaged over the thresholds",
            baseline_dev=None,
            baseline_test=None,
            human_pct=212.0,
            runtime_limit_s=1800,
            gpu_memory_gb=48,
            agent_budget_s=10 * 3600,
        ),
        decisions=(
            Decision(
                topic="baseline score of the rainfall task",
                choice="no baseline value (None); the reference is kept only as the top "
                "human's +212.0 % over the baseline, so a normalised score needs the "
                "baseline's test score, measured by running the baseline method in the test "
                "phase of the same environment",
                source=f"{SOURCE} publishes the top human's improvement (+212.0 %) but not "
                "the baseline's dev or test score for this task; inventing one would make "
                "every normalised score on it meaningless",
            ),
            Decision(
                topic="agent budget of the rainfall task",
                choice="10 h per trial instead of the 5 h of the other MLRC-Bench tasks",
                source=f"{SOURCE}: rainfall trials got 100 steps, 10 h and $20 of API calls",
            ),
        ),
    )


@task
def mlrc_machine_unlearning() -> TaskSpec:
    """NeurIPS 2023 Machine Unlearning: make a classifier forget a subset of its data."""
    return _spec(
        _Facts(
            name="mlrc_machine_unlearning",
            key="machine_unlearning",
            title="Machine unlearning (MLRC-Bench)",
            summary="Make a trained image classifier forget a subset of its training data "
            "while keeping its usefulness, without retraining from scratch.",
            competition_url="https://unlearning-challenge.github.io/",
            metric_label="Forgetting quality x utility ratios",
            metric_unit="score",
            metric_description="forgetting quality (against models retrained without the "
            "forget set) multiplied by the retain- and test-accuracy ratios to those models",
            baseline_dev=0.0539,
            baseline_test=0.0609,
            human_pct=61.9,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )


@task
def mlrc_product_recommendation() -> TaskSpec:
    """KDD Cup 2023 task 1: predict the next product in multilingual shopping sessions."""
    return _spec(
        _Facts(
            name="mlrc_product_recommendation",
            key="product-recommendation",
            title="Session-based product recommendation (MLRC-Bench)",
            summary="Rank 100 products per shopping session so that the next product viewed "
            "comes first.",
            competition_url="https://www.aicrowd.com/challenges/"
            "amazon-kdd-cup-23-multilingual-recommendation-challenge",
            metric_label="MRR@100",
            metric_unit="MRR (0-1)",
            metric_description="mean reciprocal rank of the true next product in the "
            "100-item ranked list (0 when absent)",
            baseline_dev=0.0804,
            baseline_test=0.0804,
            human_pct=412.6,
            runtime_limit_s=1800,
            gpu_memory_gb=16,
        )
    )


@task
def mlrc_meta_learning() -> TaskSpec:
    """NeurIPS 2022 Cross-Domain MetaDL: few-shot image classification in unseen domains."""
    return _spec(
        _Facts(
            name="mlrc_meta_learning",
            key="meta-learning",
            title="Cross-domain meta-learning (MLRC-Bench)",
            summary="Meta-learn a few-shot image classifier that adapts to tasks from unseen "
            "domains.",
            competition_url="https://metalearning.chalearn.org/",
            metric_label="Normalised balanced accuracy",
            metric_unit="score (0-1)",
            metric_description="balanced accuracy on the query images of each test task, "
            "normalised so that random guessing scores 0, averaged over test tasks",
            baseline_dev=0.1822,
            baseline_test=0.1728,
            human_pct=304.5,
            runtime_limit_s=12600,
            gpu_memory_gb=16,
        )
    )
