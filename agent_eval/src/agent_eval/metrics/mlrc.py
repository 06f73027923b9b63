"""MLRC-Bench scores: the task environment's scorer, run on the evaluator's own re-run.

With a ``code_run`` in the spec (every MLRC task), the evaluator re-runs the method's test
phase in the task's environment image and then runs the environment's scorer in a second
container that holds the labels (agent_eval.coderun.score_in_image). Without one, the score
cannot be computed here; published results are imported with ``agent-eval import``.
"""

from __future__ import annotations

from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_eval.results import MetricValue
from agent_tasks.spec import MetricSpec


@metric("mlrc_score", needs="nothing")
def mlrc_score(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """The task's test-phase score from its own scorer, on the evaluator's re-run."""
    key = param(mspec, "key", ctx.spec.name)
    code_run = ctx.spec.evaluation.code_run
    if ctx.code_run is None or code_run is None or not code_run.scorer:
        raise MetricError(
            f"mlrc_score ({key}) cannot be computed by this evaluator: it needs the MLRC-Bench "
            "task environment (its own test-phase data and scoring script)",
            hint="run the method in MLRC-Bench, then record its result with "
            "'agent-eval import <file>' (see docs/evaluator.md)",
        )
    from agent_eval.coderun.rerun import score_in_image

    number = score_in_image(ctx.spec, ctx.code_run, ctx.data_dir)
    return [
        value(
            mspec,
            "mlrc_score",
            number,
            unit=mspec.unit or "score",
            direction="higher",
            key=key,
            runtime_s=round(float(ctx.code_run.sandbox.wall_s), 3),
            method=ctx.code_run.method,
        )
    ]
