"""Scores of a predictions CSV against hidden labels: accuracy, and TWE for budgeted training.

The CSV's first column is the row id (``image_id``), its second the prediction, as the task's
deliverable names them; the hidden labels are the task's held-out split in the data folder
(column ``label_column``). TWE = accuracy² / inference minutes.

Both are declared ``unmeasured`` until the evaluator re-runs the agent's ``main.py`` itself:
the CSV the agent left and the inference time it reports (``inference.json``) are the agent's
own claims (it could copy public labels or write any time), so today they give
``not measured by the evaluator`` errors, never a score. Once the re-run exists it supplies the
predictions and the time, and the declarations go.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

from agent_eval.data import hf_split_path, missing, read_jsonl
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_eval.results import MetricValue
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
    path = hf_split_path(ctx.data_dir, dataset_id, config, split)
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


NOT_RERUN = (
    "the predictions must come from the evaluator's own run of the agent's main.py on the "
    "hidden test images (not built yet); a CSV the agent left is its own claim"
)
"""Why the predictions metrics are not measured yet (see the module's docstring)."""


@metric("predictions_accuracy", needs="predictions", unmeasured=NOT_RERUN)
def predictions_accuracy(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """Accuracy of a predictions CSV against hidden labels (missing rows count as wrong)."""
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


@metric(
    "twe",
    needs="predictions",
    unmeasured=NOT_RERUN + "; the inference time must be timed by the evaluator, and "
    "inference.json is a number the agent wrote",
)
def twe(ctx: MetricContext, mspec: MetricSpec) -> list[MetricValue]:
    """TWE = accuracy² / inference minutes of the run that produced the predictions."""
    acc, _n, facts = accuracy(ctx, mspec)
    assert ctx.predictions is not None
    timing = ctx.predictions.parent / "inference.json"
    try:
        seconds = float(json.loads(timing.read_text(encoding="utf-8"))["inference_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        raise MetricError(
            f"TWE needs the inference time: {str(timing)!r} with 'inference_time_s' is missing",
            hint="the harness's test run writes inference.json next to submission.csv",
        ) from None
    if seconds <= 0:
        raise MetricError(f"inference time {seconds} s in {str(timing)!r} is not positive")
    return [
        value(
            mspec,
            "twe",
            acc**2 / (seconds / 60),
            unit="score",
            direction="higher",
            inference_time_s=seconds,
            **facts,
        ),
        value(mspec, "twe_accuracy", acc, unit="accuracy", direction="higher"),
    ]
