"""Scores of a predictions CSV against hidden labels: accuracy, and TWE for budgeted training.

The CSV's first column is the row id (``image_id``), its second the prediction, as the task's
deliverable names them; the hidden labels are the task's held-out split in the data folder, or
bundled with the evaluator (column ``label_column``). For a task that re-runs the agent's code
the CSV is the one that re-run wrote, never the agent's own. TWE = accuracy² / inference
minutes, where the minutes are the wall time of the evaluator's own re-run of ``main.py``
(docs/code-deliverables.md); nothing the agent reports about its speed is read.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from agent_contracts.results import MetricValue
from agent_eval.coderun.rerun import labels_file
from agent_eval.datasets import hidden_split_need, missing, read_jsonl
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import MetricSpec


def read_predictions(path: Path) -> tuple[list[str], dict[str, str]]:
    """(header, id -> prediction) of a predictions CSV."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or len(header) < 2:
            raise MetricError(f"predictions file {str(path)!r} needs an id and a prediction column")
        return header, {row[0]: row[1] for row in reader if len(row) >= 2}


def accuracy(ctx: MetricContext, mspec: MetricSpec) -> tuple[float, int, dict[str, Any]]:
    """(accuracy, rows, facts) of the predictions against the hidden labels."""
    if ctx.code_run is not None and ctx.code_run.failure is not None:
        raise MetricError(f"{mspec.name}: no score, {ctx.code_run.failure}")
    if ctx.predictions is None:
        raise MetricError(f"{mspec.name} needs a predictions CSV deliverable")
    hidden = list(ctx.spec.evaluation.datasets)
    named = param(mspec, "dataset", None)
    chosen = next((d for d in hidden if named is None or d.id == named), None)
    dataset_id = str(named) if named else (chosen.id if chosen else None)
    if dataset_id is None:
        raise MetricError(f"{mspec.name}: the task names no labelled dataset")
    config = chosen.config if chosen else None
    split = str(param(mspec, "split", next(iter(chosen.splits), "test") if chosen else "test"))
    path = labels_file(ctx.data_dir, dataset_id, config, split)
    if not path.is_file():
        raise missing(f"{dataset_id} ({split}) labels", path, ctx.spec.name)
    label_col = str(param(mspec, "label_column", "label"))
    header, preds = read_predictions(ctx.predictions)
    rows = read_jsonl(path)
    id_col = str(param(mspec, "id_column", header[0]))
    if ctx.limit is not None:
        rows = rows[: ctx.limit]
    try:
        labels = {str(r[id_col]): str(r[label_col]) for r in rows}
    except KeyError as exc:
        raise MetricError(f"hidden labels lack column {exc}") from None
    correct = sum(1 for k, v in labels.items() if preds.get(k, "").strip() == v)
    facts = {
        "dataset": f"{dataset_id}:{split}",
        "rows": len(labels),
        "predicted": sum(1 for k in labels if k in preds),
    }
    return correct / len(labels), len(labels), facts


@metric("predictions_accuracy", needs="predictions", data=hidden_split_need, rerun_only=True)
def predictions_accuracy(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Accuracy of a predictions CSV against hidden labels (missing rows count as wrong)."""
    if ctx.code_run is None:
        raise MetricError(
            "predictions accuracy needs the evaluator's own re-run of the deliverable, and "
            "this task defines none",
            hint="give the task spec an evaluation.code_run (docs/code-deliverables.md); a CSV "
            "the agent left is its own claim and never scored",
        )
    acc, n, facts = accuracy(ctx, mspec)
    err = math.sqrt(acc * (1 - acc) / n)
    return [
        value(
            mspec,
            "predictions_accuracy",
            acc,
            unit="accuracy",
            direction="higher",
            stderr=err,
            **facts,
        )
    ]


@metric("twe", needs="predictions", data=hidden_split_need, rerun_only=True)
def twe(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """TWE = accuracy² / inference minutes, both from the evaluator's own re-run of main.py."""
    if ctx.code_run is None:
        raise MetricError(
            "TWE needs the evaluator's own timed re-run of the deliverable, and this task "
            "defines none",
            hint="give the task spec an evaluation.code_run (docs/code-deliverables.md); a "
            "time the agent reports is never used",
        )
    acc, _n, facts = accuracy(ctx, mspec)
    seconds = float(ctx.code_run.sandbox.wall_s)
    return [
        value(
            mspec,
            "twe",
            acc**2 / (seconds / 60),
            unit="score",
            direction="higher",
            inference_time_s=round(seconds, 4),
            timed_by="evaluator",
            sandbox=ctx.code_run.sandbox.backend,
            **facts,
        ),
        value(mspec, "twe_accuracy", acc, unit="accuracy", direction="higher"),
        value(mspec, "twe_inference_s", seconds, unit="s", direction="lower"),
    ]
