"""Whether a result is ranked on the leaderboard, and why not, in one place.

The leaderboard's query (``Store.ranking_rows``) leaves out exactly what this says, so the
evaluate output, ``history`` and the leaderboard's note tell the user the same reasons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_contracts.results import Conditions, EvaluationResult

if TYPE_CHECKING:
    from agent_tasks.spec import TaskSpec

DUPLICATE_REASON = "the same model (sha256) is already counted under a run for this task"
"""Why an evaluation naming no run is left out when an evaluation of a run holds its model
(only the database can tell: ``Store.left_out``, ``Store.history``, ``Store.standing``)."""


def not_ranked(result: EvaluationResult) -> list[str]:
    """Why this result is not ranked (empty: it is ranked), for a person."""
    reasons: list[str] = []
    if result.environment.sample_limit is not None:
        reasons.append(f"a quick check (--limit {result.environment.sample_limit})")
    if result.data_subset:
        short = sorted({d.id for d in result.datasets if not d.complete})
        reasons.append(
            "data_subset: fewer examples than the task's full set were scored"
            + (f" ({', '.join(short)})" if short else "")
        )
    spec = _spec(result.task)
    judged = _judged(result, spec)
    if judged is not None and not judged.comparable:
        reasons.append("not comparable: " + "; ".join(judged.reasons))
    if result.conditions is None and _declares_a_policy(spec):
        reasons.append(
            "conditions not recorded (a results file without them): the benchmark ranks runs "
            "by their network, credentials and model budget, which the file does not show"
        )
    if result.status != "error":  # a failed evaluation stays a trial without a score
        reasons += _unearned(result, spec)
    if result.run_id is None and result.agent is None:
        reasons.append("no run or agent named: shown apart, never ranked")
    return reasons


def _spec(task: str) -> TaskSpec | None:
    """The task's spec in this installation (None: a task it does not know)."""
    from agent_tasks.errors import UnknownTaskError
    from agent_tasks.registry import get_task

    try:
        return get_task(task)
    except UnknownTaskError:
        return None


def _judged(result: EvaluationResult, spec: TaskSpec | None) -> Conditions | None:
    """The result's conditions judged again against its task's declaration here (a results
    file's own ``comparable`` is a claim: an edited file could say anything); as written for a
    task this installation does not know."""
    if result.conditions is None:
        return None
    if spec is None:
        return result.conditions
    from agent_eval.conditions import judge

    return judge(spec, result.conditions)


def _declares_a_policy(spec: TaskSpec | None) -> bool:
    """Whether the task (or its benchmark) ranks only runs of a declared network, credential
    mode or model budget (False for a task this installation does not know)."""
    from agent_tasks.catalogue import required_conditions

    return spec is not None and required_conditions(spec).has_policy


def _unearned(result: EvaluationResult, spec: TaskSpec | None) -> list[str]:
    """What a finished evaluation did not establish: its primary metric (``--metrics`` without
    it), or a memory rule of the task that could not be measured (a GPU rule without a driver's
    reading is never counted as met)."""
    reasons = []
    if result.metric(result.primary_metric) is None:
        reasons.append(
            f"primary metric {result.primary_metric} not computed (--metrics): shown, never "
            "ranked or counted as the trial's latest evaluation"
        )
    gpu_limits = {
        c.limit_gb
        for c in (spec.constraints if spec is not None else ())
        if c.kind == "max_memory_gb" and c.device != "cpu"
    }
    for check in result.constraints:  # a host memory rule of a re-run: the sandbox enforces it
        if (
            check.kind == "max_memory_gb"
            and check.outcome == "unchecked"
            and check.limit in gpu_limits
        ):
            why = check.detail.removeprefix("unchecked: ")
            reasons.append(f"memory rule ({check.limit} GB) unchecked: {why}")
    return reasons


def no_score(result: EvaluationResult) -> list[str]:
    """Why a ranked result counts as a failed trial with no score (empty: it has one)."""
    from agent_eval.metrics.registry import unmeasured_metrics

    reasons: list[str] = []
    if result.primary_metric in unmeasured_metrics():
        reasons.append(f"unmeasured: the evaluator does not measure {result.primary_metric}")
    if result.status == "error":
        reasons.append("the evaluation failed (status error)")
    failed = [c.kind for c in result.constraints if c.outcome == "failed"]
    if failed:
        reasons.append(f"constraint failed: {', '.join(failed)}")
    return reasons
