"""The one mapping from a run record and a results file to database rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent_contracts.results import EvaluationResult
from agent_contracts.run_record import RunRecord
from agent_eval.store.engine import utc
from agent_eval.store.schema import EvaluationRow, MetricValueRow, RunRow


def _moment(value: str | None) -> datetime | None:
    """A run record's ISO 8601 time as an aware datetime (None when absent)."""
    if not value:
        return None
    return utc(datetime.fromisoformat(value.replace("Z", "+00:00")))


def run_row(run: RunRecord, now: datetime) -> RunRow:
    """The ``runs`` row of a run record (one mapping, typed fields: no key guessing)."""
    usage = run.model_usage
    return RunRow(
        run_id=run.run_id,
        task=run.task,
        benchmark=run.benchmark,
        agent_label=run.agent_label or run.image,
        agent_image=run.image,
        image_digest=run.image_digest or run.image_id,
        provider=run.provider,
        status=run.status,
        exit_code=run.exit_code,
        started_at=_moment(run.started_at),
        finished_at=_moment(run.ended_at),
        duration_s=run.duration_s,
        model_calls=usage.calls if usage else None,
        input_tokens=usage.input_tokens if usage else None,
        output_tokens=usage.output_tokens if usage else None,
        cost_usd=usage.cost_usd if usage else None,
        run_json=run.model_dump(mode="json"),
        recorded_at=now,
    )


def evaluation_row(result: EvaluationResult, now: datetime) -> EvaluationRow:
    agent = result.agent
    row = EvaluationRow(
        evaluation_id=result.evaluation_id,
        run_id=result.run_id,
        task=result.task,
        benchmark=result.benchmark,
        task_version=result.task_version,
        agent_label=agent.label if agent else None,
        agent_image=agent.image if agent else None,
        agent_provider=agent.provider if agent else None,
        agent_model=agent.model if agent else None,
        model_path=result.model.path,
        model_sha256=result.model.sha256,
        model_format=result.model.format,
        status=result.status,
        primary_metric=result.primary_metric,
        primary_value=result.primary_value,
        normalised_score=result.score.normalised if result.score else None,
        absolute_improvement_pct=result.score.absolute_improvement_pct if result.score else None,
        constraints_passed=result.constraints_passed,
        sample_limit=result.environment.sample_limit,
        data_subset=result.data_subset,
        started_at=utc(result.started_at),
        finished_at=utc(result.finished_at),
        duration_s=result.duration_s,
        evaluator_version=result.environment.evaluator_version,
        schema_version=result.schema_version,
        result_json=result.model_dump(mode="json"),
        recorded_at=now,
    )
    row.metrics = [
        MetricValueRow(
            name=m.name,
            value=m.value,
            stderr=m.stderr,
            unit=m.unit,
            direction=m.direction,
            source=m.source,
        )
        for m in result.metrics
    ]
    return row


def stub_run_row(result: EvaluationResult, now: datetime) -> RunRow:
    """The ``runs`` row of a result whose run record is not (yet) stored: what the result
    itself says of its run; completed when the run record arrives."""
    agent = result.agent
    return RunRow(
        run_id=result.run_id,
        task=result.task,
        benchmark=result.benchmark,
        agent_label=agent.label if agent else None,
        agent_image=agent.image if agent else None,
        provider=agent.provider if agent else None,
        run_json=None,
        recorded_at=now,
    )


RANKING_COLUMNS = {
    "evaluation_id": "evaluation_id",
    "run_id": "run_id",
    "task": "task",
    "benchmark": "benchmark",
    "agent_label": "agent_label",
    "agent_image": "agent_image",
    "agent_provider": "agent_provider",
    "agent_model": "agent_model",
    "status": "status",
    "primary_metric": "primary_metric",
    "raw": "primary_value",
    "constraints_passed": "constraints_passed",
    "finished_at": "finished_at",
    "normalised": "normalised_score",
    "absolute": "absolute_improvement_pct",
    "model_format": "model_format",
}
"""What a ranking reads of an evaluation: its name there -> the ``evaluations`` column. Used
for rows read back from the database and for a results file alike (through
:func:`evaluation_row`), so both are ranked from the same mapping."""


def ranking_columns(row: EvaluationRow) -> dict[str, Any]:
    """The ranking's view of an evaluation row (the same names the store's query gives)."""
    return {name: getattr(row, column) for name, column in RANKING_COLUMNS.items()}
