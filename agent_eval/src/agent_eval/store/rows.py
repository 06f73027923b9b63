"""The one mapping from a run record and a results file to database rows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from agent_contracts.results import EvaluationResult
from agent_contracts.run_record import RunRecord
from agent_eval.store.engine import utc
from agent_eval.store.schema import (
    INDEXED,
    METRIC_INDEXED,
    EvaluationRow,
    MetricValueRow,
    RunRow,
)


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


def indexed_columns(result: EvaluationResult) -> dict[str, Any]:
    """The ``evaluations`` columns that copy a results field (those the model marks
    ``Indexed``; None where a model on the field's path is None)."""
    columns = {field.column: field.value(result) for field in INDEXED}
    for field in INDEXED:
        if field.kind is datetime and columns[field.column] is not None:
            columns[field.column] = utc(columns[field.column])
    return columns


def evaluation_row(result: EvaluationResult, now: datetime) -> EvaluationRow:
    """The ``evaluations`` row of a result, with its ``metric_values`` rows."""
    from agent_eval.ranking import not_ranked

    reasons = not_ranked(result)
    row = EvaluationRow(
        evaluation_id=result.evaluation_id,
        run_id=result.run_id,
        **indexed_columns(result),
        primary_value=result.primary_value,
        constraints_passed=result.constraints_passed,
        comparable=result.comparable,
        not_ranked="; ".join(reasons) if reasons else None,
        result_json=result.model_dump(mode="json"),
        recorded_at=now,
    )
    row.metrics = [
        MetricValueRow(**{field.column: field.value(m) for field in METRIC_INDEXED})
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
