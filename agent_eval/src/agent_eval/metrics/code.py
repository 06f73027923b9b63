"""MLRC-Bench's side metrics of a code deliverable: efficiency and simplicity (not ranked).

Efficiency: the time of the evaluator's re-run (where the task has baseline code, its ratio to
that code measured in the same evaluation, times the baseline's anchor time; see
:mod:`agent_eval.coderun.timing`), and its change in % against the baseline's. Simplicity: the
``ast`` statement count of the method's file, and its change in % against the baseline's file.
Lower is better for both; both come from the re-run, never from anything the agent wrote about
itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from agent_contracts.results import MetricValue
from agent_eval.coderun.timing import timed_seconds
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, value
from agent_tasks.spec import MetricSpec

if TYPE_CHECKING:
    from agent_eval.coderun.rerun import CodeRunOutcome


def _outcome(ctx: MetricContext, mspec: MetricSpec) -> CodeRunOutcome:
    if ctx.code_run is None:
        raise MetricError(f"{mspec.name} needs the evaluator's re-run of a code deliverable")
    return ctx.code_run


def _change_pct(measured: float, baseline: float | None) -> float | None:
    return None if not baseline else round(100 * (measured - baseline) / baseline, 2)


@metric("code_runtime", needs="nothing", timed=True)
def code_runtime(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Seconds of the re-run, measured by the evaluator (against the task's baseline code where
    it has one: its ratio times the baseline's anchor time); % change against the baseline's."""
    outcome = _outcome(ctx, mspec)
    if outcome.failure is not None:
        raise MetricError(f"code_runtime: no valid re-run ({outcome.failure})")
    seconds, timing = timed_seconds(outcome)
    code_run = ctx.spec.evaluation.code_run
    baseline = code_run.baseline_runtime_s if code_run else None
    return [
        value(
            mspec,
            "code_runtime",
            seconds,
            unit="s",
            direction="lower",
            timing=timing,
            measured_s=round(float(outcome.sandbox.wall_s), 4),
            time_basis="ratio to the baseline code" if timing else "measured alone",
            baseline_s=baseline,
            change_vs_baseline_pct=_change_pct(seconds, baseline),
            sandbox=outcome.sandbox.backend,
        )
    ]


@metric("code_statements", needs="nothing")
def code_statements(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Logical lines (``ast`` statements) of the method file; % change against the baseline's."""
    outcome = _outcome(ctx, mspec)
    count = outcome.method_statements
    if count is None:
        raise MetricError(
            "code_statements: the method's file is missing from the deliverable or is not Python"
        )
    code_run = ctx.spec.evaluation.code_run
    baseline = code_run.baseline_statements if code_run else None
    return [
        value(
            mspec,
            "code_statements",
            count,
            unit="statements",
            direction="lower",
            method=outcome.method,
            baseline_statements=baseline,
            change_vs_baseline_pct=_change_pct(count, baseline),
        )
    ]
