"""Scores of a predictions CSV against hidden labels: accuracy, and TWE for budgeted training.

The CSV's first column is the row id (``image_id``), its second the prediction, as the task's
deliverable names them; the hidden labels are the task's held-out split in the data folder, or
bundled with the evaluator (column ``label_column``). For a task that re-runs the agent's code
the CSV is the one that re-run wrote, never the agent's own. TWE = accuracy² / inference
minutes, where the minutes come from the evaluator's own re-runs of ``main.py``: where the task
has baseline code, the agent's time as a ratio to it on the anchors' machine
(:mod:`agent_eval.coderun.timing`), else the scored run's wall time (docs/code-deliverables.md);
nothing the agent reports about its speed is read.
"""

from __future__ import annotations

import csv
import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from agent_contracts.results import MetricValue
from agent_eval.coderun.rerun import labels_file
from agent_eval.coderun.timing import timed_seconds
from agent_eval.datasets import hidden_split_need, missing, read_jsonl
from agent_eval.errors import MetricError
from agent_eval.metrics.registry import MetricContext, metric, param, value
from agent_tasks.spec import DatasetSpec, MetricSpec

MAX_LINE_CHARS = 1 << 20
"""Longest line of a predictions CSV that is read (1 Mi characters); a longer one is an error.

The CSV is read streaming, one line at a time, and only one bit is kept per hidden item (right
or not), so scoring holds the hidden labels plus at most one line (4 MiB of UTF-8) whatever
size the file has."""


def _lines(fh: IO[str], path: Path) -> Iterator[str]:
    """The file's lines, each at most ``MAX_LINE_CHARS`` (a longer one is an error)."""
    while line := fh.readline(MAX_LINE_CHARS + 1):
        if len(line) > MAX_LINE_CHARS:
            raise MetricError(
                f"predictions file {str(path)!r} has a line longer than {MAX_LINE_CHARS} "
                "characters",
                hint="write one short `id,prediction` row per line",
            )
        yield line


def _open_regular(path: Path) -> IO[str]:
    """The file for reading as text; never through a link, never a FIFO or device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise MetricError(f"predictions file {str(path)!r} cannot be opened: {exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise MetricError(f"predictions file {str(path)!r} is not a regular file")
    return open(fd, newline="", encoding="utf-8")  # noqa: PTH123 - a descriptor, not a path


def score_predictions(path: Path, labels: dict[str, str]) -> tuple[list[str], int, int]:
    """(header, right, predicted) of a predictions CSV against ``labels`` (id -> label),
    streaming; the last row of an id counts; rows of ids that are not labelled are skipped."""
    right: dict[str, bool] = {}
    try:
        with _open_regular(path) as fh:
            reader = csv.reader(_lines(fh, path))
            header = next(reader, None)
            if not header or len(header) < 2:
                raise MetricError(
                    f"predictions file {str(path)!r} needs an id and a prediction column"
                )
            for row in reader:
                if len(row) >= 2 and row[0] in labels:
                    right[row[0]] = row[1].strip() == labels[row[0]]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MetricError(f"predictions file {str(path)!r} is not a readable CSV: {exc}") from None
    return header, sum(right.values()), len(right)


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
    rows = read_jsonl(path)
    if ctx.limit is not None:
        rows = rows[: ctx.limit]
    named_id = param(mspec, "id_column", None)
    declared = ctx.spec.deliverable.columns[0] if ctx.spec.deliverable.columns else None
    id_col = str(named_id or declared or _id_column(ctx.predictions, rows, label_col))
    try:
        labels = {str(r[id_col]): str(r[label_col]) for r in rows}
    except KeyError as exc:
        raise MetricError(f"hidden labels lack column {exc}") from None
    _header, correct, predicted = score_predictions(ctx.predictions, labels)
    _record_data(ctx, mspec, chosen, dataset_id, config, split, path, set(labels))
    facts = {"dataset": f"{dataset_id}:{split}", "rows": len(labels), "predicted": predicted}
    return correct / len(labels), len(labels), facts


def _record_data(
    ctx: MetricContext,
    mspec: MetricSpec,
    chosen: DatasetSpec | None,
    dataset_id: str,
    config: str | None,
    split: str,
    labels: Path,
    label_ids: set[str],
) -> None:
    """Record the labels scored and the hidden inputs the re-run was given: counts against
    the spec's full split (any other count is a data subset, never ranked), whether the inputs
    are the labelled items (one image per label id, no other), and one hash over both."""
    from agent_eval.coderun.rerun import BUNDLED, inputs_folder
    from agent_eval.datasets import CODE_IMAGES_FOLDER, bundled_dir, hf_manifest_key
    from agent_eval.provenance import files_sha256, record_use

    source = chosen or DatasetSpec(id=dataset_id, config=config)
    full = source.splits.get(split)
    scored = len(label_ids)
    files = [labels]
    details: dict[str, Any] = {"labels_file": labels.name}
    code_run = ctx.spec.evaluation.code_run
    root = bundled_dir() if dataset_id.startswith(BUNDLED) else ctx.data_dir
    if code_run is not None:
        folder = inputs_folder(code_run, ctx.data_dir)
        inputs = sorted(f for f in folder.rglob("*") if f.is_file()) if folder.is_dir() else []
        files += inputs
        details |= {
            "input_files": len(inputs),
            "inputs_sha256": files_sha256(inputs, folder),
        }
        images = folder / CODE_IMAGES_FOLDER
        if ctx.limit is None and images.is_dir():  # one file per item, named by its id
            names = [
                f.stem if f.parent == images else f.relative_to(folder).as_posix() for f in inputs
            ]
            mismatch = _ids_mismatch(names, label_ids)
            if mismatch:
                details["inputs_mismatch"] = mismatch
    record_use(
        ctx,
        source=source,
        split=split,
        files=files,
        examples=scored,
        full_examples=full,
        used_by=mspec.name,
        manifest_key=hf_manifest_key(dataset_id, config, split),
        complete=(
            ctx.limit is None
            and (full is None or scored == full)
            and "inputs_mismatch" not in details
        ),
        details=details,
        root=root,
    )


def _ids_mismatch(names: list[str], labelled: set[str]) -> str | None:
    """What differs between the hidden inputs (each image's id; any other file by its path)
    and the labels' ids (None: one input per labelled id, and no other)."""
    inputs = set(names)
    if inputs == labelled and len(names) == len(inputs):
        return None
    unlabelled, absent = sorted(inputs - labelled), sorted(labelled - inputs)
    parts = []
    if len(names) != len(inputs):
        parts.append(f"{len(names) - len(inputs)} id(s) with more than one image")
    if unlabelled:
        parts.append(f"{len(unlabelled)} input(s) without a label (e.g. {unlabelled[0]!r})")
    if absent:
        parts.append(f"{len(absent)} label(s) without an input (e.g. {absent[0]!r})")
    return f"the hidden inputs are not the labelled items: {', '.join(parts)}"


def _id_column(path: Path, rows: list[dict[str, Any]], label_col: str) -> str:
    """The labels' id column where the task declares none: the CSV's first column when it is
    one of the labels' other columns, else their only other column. The agent's column order
    never keys the labels by the label itself (which would make its evaluation a subset)."""
    first = _first_column(path)
    others = [k for k in (rows[0] if rows else {}) if k != label_col]
    return first if first in others or len(others) != 1 else others[0]


def _first_column(path: Path) -> str:
    """The name of the CSV's id column (its header's first field)."""
    try:
        with _open_regular(path) as fh:
            header = next(csv.reader(_lines(fh, path)), None)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MetricError(f"predictions file {str(path)!r} is not a readable CSV: {exc}") from None
    if not header or len(header) < 2:
        raise MetricError(f"predictions file {str(path)!r} needs an id and a prediction column")
    return header[0]


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


@metric("twe", needs="predictions", data=hidden_split_need, rerun_only=True, timed=True)
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
    seconds, timing = timed_seconds(ctx.code_run)
    return [
        value(
            mspec,
            "twe",
            acc**2 / (seconds / 60),
            unit="score",
            direction="higher",
            timing=timing,
            inference_time_s=round(seconds, 4),
            measured_s=round(float(ctx.code_run.sandbox.wall_s), 4),
            time_basis="ratio to the baseline code" if timing else "measured alone",
            timed_by="evaluator",
            sandbox=ctx.code_run.sandbox.backend,
            **facts,
        ),
        value(mspec, "twe_accuracy", acc, unit="accuracy", direction="higher"),
        value(mspec, "twe_inference_s", seconds, unit="s", direction="lower"),
    ]
