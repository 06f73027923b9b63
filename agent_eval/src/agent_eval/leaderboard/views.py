"""Views of a board: the JSON of one ranked view, the rich terminal table, the page's data."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from agent_eval.leaderboard.stats import CONFIDENCE, LEVELS, PASS_AT, SUCCESS_THRESHOLD
from agent_eval.leaderboard.stories import story_for
from agent_eval.leaderboard.table import (
    METRIC_LABELS,
    METRICS,
    Board,
    Cell,
    Metric,
    RankedRow,
    TaskColumn,
    TrialsMode,
    rank_rows,
)
from agent_tasks.render import describe_constraint, format_duration

AGENT_WIDTH = 40
"""Widest the agent column gets in the terminal; longer names wrap."""

UNLIMITED = 100_000
"""A width no table reaches: to measure what a table needs."""


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def format_value(value: float | None, metric: Metric) -> str:
    """A number as the tables print it (1 decimal for scores, 4 significant digits for raw)."""
    if value is None:
        return "—"
    return f"{value:.4g}" if metric == "raw" else f"{value:.1f}"


def _cell_json(cell: Cell, metric: Metric, trials: TrialsMode) -> dict[str, Any]:
    stat = cell.metrics.get(metric)
    est = stat.estimate if stat else None
    return {
        "value": _num(cell.value(metric, trials)),
        "mean": _num(est.mean) if est else None,
        "ci95": [est.low, est.high] if est and est.low is not None else None,
        "best": _num(stat.best) if stat else None,
        "trials": cell.n_trials,
        "valid_trials": cell.n_valid,
        "successes": cell.n_success,
        "pass_at_k": {str(k): v for k, v in cell.pass_at.items()},
        "levels": {f"L{k}": v for k, v in cell.levels.items()},
        "tokens_per_run": _num(cell.tokens_per_run),
        "cost_usd_per_run": _num(cell.cost_usd_per_run),
    }


def view_json(
    board: Board,
    metric: Metric = "relative",
    trials: TrialsMode = "mean",
    tasks: Sequence[str] | None = None,
) -> dict[str, Any]:
    """One ranked view as JSON-ready data (what ``leaderboard --json`` prints per benchmark)."""
    columns = board.columns_for(tasks)
    ranked = rank_rows(board, metric, trials, tasks)
    return {
        "benchmark": board.benchmark,
        "metric": metric,
        "metric_label": METRIC_LABELS[metric],
        "trials": "mean" if trials == "mean" else "best_of_k",
        "success_threshold": SUCCESS_THRESHOLD,
        "confidence": CONFIDENCE,
        "tasks": [c.name for c in columns],
        "rows": [
            {
                "rank": r.rank,
                "medal": r.medal,
                "agent": r.row.agent,
                "kind": r.row.kind,
                "source": r.row.source,
                "provider": r.row.provider,
                "model": r.row.model,
                "trials": r.row.n_trials,
                "tokens_per_run": _num(r.row.tokens_per_run),
                "cost_usd_per_run": _num(r.row.cost_usd_per_run),
                "average": _num(r.average),
                "tasks_covered": r.covered,
                "tasks_selected": len(columns),
                "cells": {
                    c.name: (
                        _cell_json(r.row.cells[c.name], metric, trials)
                        if c.name in r.row.cells
                        else None
                    )
                    for c in columns
                },
            }
            for r in ranked
        ],
    }


def _style(value: float | None, metric: Metric, column: TaskColumn) -> str:
    if value is None:
        return "dim"
    if metric == "raw":
        base = column.baseline
        if base is None or value == base:
            return ""
        better = value > base if column.direction == "higher" else value < base
        return "green" if better else "red"
    return "green" if value > 0 else "red" if value < 0 else ""


def render_board(
    board: Board,
    console: Console,
    metric: Metric = "relative",
    trials: TrialsMode = "mean",
    tasks: Sequence[str] | None = None,
) -> None:
    """Print one benchmark's ranked view as a rich table (medals, colours, footnotes)."""
    columns = board.columns_for(tasks)
    ranked = rank_rows(board, metric, trials, tasks)
    if not ranked:
        console.print(
            f"{board.benchmark}: no {metric} values for the tasks shown. Imported results carry "
            f"only the metrics their file gives; try --metric relative or --metric absolute."
        )
        return
    mode = "mean over trials" if trials == "mean" else "BEST of k trials (not the default)"
    table = Table(
        title=f"{board.benchmark}: {METRIC_LABELS[metric]}, {mode}",
        header_style="bold",
        title_justify="left",
    )
    table.add_column("rank", justify="right", no_wrap=True)
    table.add_column("agent", max_width=AGENT_WIDTH, overflow="fold")
    table.add_column("trials", justify="right", no_wrap=True)
    for c in columns:
        table.add_column(c.short, justify="right")
    table.add_column("Average", justify="right", style="bold")
    costed = any(r.row.cost_usd_per_run is not None for r in ranked)
    if costed:
        table.add_column("model $/run", justify="right")
    sources: list[str] = []
    incomplete = False
    for r in ranked:
        row = r.row
        if row.kind == "reference":
            rank = Text("ref", style="italic")
        else:
            rank = Text(f"{r.medal or ''}{r.rank}")
        name = Text(row.agent, style="bold italic" if row.kind == "reference" else "")
        if row.source:
            if row.source not in sources:
                sources.append(row.source)
            name.append(f" [{sources.index(row.source) + 1}]", style="dim")
        cells: list[Text] = []
        for c in columns:
            value = r.values.get(c.name)
            text = format_value(value, metric)
            cell = row.cells.get(c.name)
            if trials == "mean" and cell is not None and value is not None:
                stat = cell.metrics.get(metric)
                half = stat.estimate.half_width if stat and stat.estimate else None
                if half is not None:
                    text += f" ±{format_value(half, metric)}"
            cells.append(Text(text, style=_style(value, metric, c)))
        if r.average is None:
            avg = Text("—", style="dim")
        else:
            avg = Text(format_value(r.average, metric), style=_style(r.average, metric, columns[0]))
            if r.covered < len(columns):
                incomplete = True
                avg.append(f" ({r.covered}/{len(columns)})", style="dim")
        trials_text = str(row.n_trials) if row.kind == "agent" else "pub."
        extra = []
        if costed:
            cost = r.row.cost_usd_per_run
            extra.append(Text("—" if cost is None else f"{cost:.4g}", style="" if cost else "dim"))
        table.add_row(rank, name, trials_text, *cells, avg, *extra)
    notes = []
    if trials == "mean":
        notes.append(f"± half-width of the {CONFIDENCE:.0%} t interval over trials (n ≥ 2)")
    notes.append("— no result for that task (never counted as 0)")
    if costed:
        notes.append("model $/run: mean model-API cost per run through the harness's proxy")
    if incomplete:
        notes.append("(k/n): average over the k of n shown tasks the row has; such rows rank last")
    if metric == "raw":
        notes.append("raw values have no cross-task average; order follows the relative score")
    for i, src in enumerate(sources, start=1):
        notes.append(f"[{i}] imported: {src}")
    table.caption = "\n".join(notes)
    table.caption_justify = "left"
    needed = Measurement.get(console, console.options.update_width(UNLIMITED), table)
    if not console.is_terminal:
        # A pipe or a file has no width to respect: never cut a number to fit 80 columns.
        wide = Console(file=console.file, width=max(console.width, needed.maximum), highlight=False)
        wide.print(table)
        return
    console.print(table)
    if needed.minimum > console.width:
        console.print(
            f"[dim]The table needs {needed.minimum} columns and the terminal has "
            f"{console.width}: widen it, show fewer tasks (--task), or use --json.[/dim]"
        )


def _limits(column: TaskColumn) -> list[str]:
    spec = column.spec
    if spec is None:
        return []
    r = spec.resources
    gpus = f"{r.gpus} GPU" + ("s" if r.gpus != 1 else "")
    if r.gpu_type:
        gpus += f" ({r.gpu_type})"
    if r.gpu_memory_gb:
        gpus += f", {r.gpu_memory_gb:g} GB GPU memory"
    out = [f"time limit {format_duration(r.time_limit_s)}", gpus]
    out += [describe_constraint(c) for c in spec.constraints]
    return out


def _task_json(column: TaskColumn) -> dict[str, Any]:
    spec = column.spec
    if spec is None:
        return {"name": column.name, "title": column.title, "short": column.short}
    a = spec.anchors
    primary = spec.primary
    return {
        "name": spec.name,
        "title": spec.title,
        "short": column.short,
        "summary": spec.summary,
        "deliverable": spec.deliverable.description,
        "aliases": list(spec.aliases),
        "limits": _limits(column),
        "metric": {
            "label": primary.label,
            "direction": primary.direction,
            "unit": primary.unit,
            "description": primary.description,
        },
        "anchors": {
            "baseline": a.baseline,
            "baseline_label": a.baseline_label,
            "reference": a.reference_value,
            "reference_label": a.reference_label,
            "reference_improvement_pct": a.reference_improvement_pct,
            "source": a.source,
        },
        "url": spec.competition_url,
        "paper_url": spec.paper_url,
    }


def _row_cells(cell: Cell) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for metric in METRICS:
        stat = cell.metrics.get(metric)
        if stat is None or stat.estimate is None:
            continue
        est = stat.estimate
        values[metric] = [_num(est.mean), est.low, est.high, _num(stat.best), est.n]
    return {
        "n": cell.n_trials,
        "valid": cell.n_valid,
        "success": cell.n_success,
        "pass_at": {str(k): v for k, v in cell.pass_at.items()},
        "levels": {str(k): v for k, v in cell.levels.items()},
        "v": values,
        "tokens": _num(cell.tokens_per_run),
        "cost_usd": _num(cell.cost_usd_per_run),
    }


def page_data(boards: Sequence[Board], generated_at: str) -> dict[str, Any]:
    """Everything the page shows, as one JSON document embedded in it."""
    return {
        "generated_at": generated_at,
        "success_threshold": SUCCESS_THRESHOLD,
        "pass_at": list(PASS_AT),
        "levels": {str(k): v for k, v in LEVELS.items()},
        "metric_labels": METRIC_LABELS,
        "benchmarks": [
            {
                "name": b.benchmark,
                "story": story_for(b.benchmark),
                "tasks": [_task_json(c) for c in b.tasks],
                "baselines": {
                    c.name: {"baseline": c.baseline, "direction": c.direction} for c in b.tasks
                },
                "rows": [
                    {
                        "agent": row.agent,
                        "kind": row.kind,
                        "source": row.source,
                        "model": row.model,
                        "provider": row.provider,
                        "trials": row.n_trials,
                        "tokens_per_run": _num(row.tokens_per_run),
                        "cost_usd_per_run": _num(row.cost_usd_per_run),
                        "cells": {t: _row_cells(c) for t, c in row.cells.items()},
                    }
                    for row in b.rows
                ],
            }
            for b in boards
        ],
    }


__all__ = ["RankedRow", "format_value", "page_data", "render_board", "view_json"]
