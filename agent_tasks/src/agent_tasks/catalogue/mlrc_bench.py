"""What the `mlrc_bench` tasks share: the MLRC-Bench research-competition tasks.

Facts (metrics, limits, baselines, top-human improvements, agent budgets) follow MLRC-Bench,
arXiv 2504.09702. Every task shares one shape: the agent works in the task's MLRC-Bench folder
and delivers a method; the test phase is run afterwards, by the framework, on hidden data.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent_tasks.catalogue import CONDITIONS
from agent_tasks.catalogue.assets import prompt_of
from agent_tasks.spec import (
    CodeRun,
    Decision,
    DeliverableSpec,
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
class Facts:
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
    api_budget_usd: float | None = None
    """Model-API budget per trial when it is not the benchmark's (``agent_tasks.catalogue``
    ``MLRC_API_BUDGET_USD``)."""


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


def code_run(facts: Facts) -> CodeRun:
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


def mlrc_spec(facts: Facts, *, decisions: tuple[Decision, ...] = ()) -> TaskSpec:
    """A full spec from one task's facts; every MLRC-Bench task shares the rest."""
    dev = "not published" if facts.baseline_dev is None else f"{facts.baseline_dev:g}"
    policy = None
    if facts.api_budget_usd is not None:  # the task's own budget, else the benchmark's
        policy = CONDITIONS[BENCHMARK].model_copy(
            update={
                "max_budget_usd": facts.api_budget_usd,
                "source": f"{SOURCE}: ${facts.api_budget_usd:g} of API calls per trial of "
                "this task; otherwise as the benchmark's",
            }
        )
    return TaskSpec(
        name=facts.name,
        benchmark=BENCHMARK,
        run_policy=policy,
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
        deliverable=DeliverableSpec(
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
