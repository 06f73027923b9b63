"""Views of a board: the JSON of one ranked view, the rich terminal table, the page's data."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from agent_eval.leaderboard.about import about_benchmark
from agent_eval.leaderboard.stats import CONFIDENCE, LEVELS, PASS_AT, SUCCESS_THRESHOLD
from agent_eval.leaderboard.table import (
    METRIC_LABELS,
    METRICS,
    Board,
    Cell,
    Metric,
    RankedRow,
    Row,
    TaskColumn,
    Trial,
    TrialsMode,
    rank_rows,
)
from agent_eval.leaderboard.uncertainty import (
    METHOD,
    RESAMPLES,
    SEED,
    Comparison,
    RowKey,
    RowUncertainty,
    row_key,
    view_uncertainty,
)
from agent_tasks.render import describe_constraint, format_duration

AGENT_WIDTH = 40
"""Widest the agent column gets in the terminal; longer names wrap."""

UNLIMITED = 100_000
"""A width no table reaches: to measure what a table needs."""


def _num(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _pair(pair: tuple[float, float] | None) -> list[float | None] | None:
    return None if pair is None else [_num(pair[0]), _num(pair[1])]


UNCERTAINTY_NOTE = (
    f"stratified bootstrap over each agent's trials within each task ({RESAMPLES} resamples, "
    f"seed {SEED}, {METHOD} intervals); a cell with one trial is held at its value"
)
"""How the average's interval, rank stability and ties are computed (printed with them)."""

HOW_TO = (
    "Evaluate an agent (agent-eval --model_args PATH --task TASK), or import published results: "
    "agent-eval import --builtin mlrc_bench_paper"
)
"""How to get results onto an empty board (the terminal and the page say the same)."""

COMPLETE_HINT = (
    "run the missing tasks and evaluate them (agent-harness run ... --task TASK --evaluate), "
    "or compare on the tasks every row has with --task"
)
"""How to complete a row that misses tasks (shown wherever such a row is)."""


def missing_tasks(ranked: RankedRow, columns: Sequence[TaskColumn]) -> list[TaskColumn]:
    """The shown tasks a ranked row has no value on (what keeps it from ranking complete)."""
    return [c for c in columns if ranked.values.get(c.name) is None]


def cost_json(row: Row) -> dict[str, Any]:
    """A row's cost figures: per run and in total (None where no run recorded them)."""
    return {
        "tokens_per_run": _num(row.tokens_per_run),
        "cost_usd_per_run": _num(row.cost_usd_per_run),
        "gpu_hours_per_run": _num(row.gpu_hours_per_run),
        "run_hours_per_run": _num(row.run_hours_per_run),
        "working_hours_per_run": _num(row.working_hours_per_run),
        "tokens_total": row.tokens_total,
        "cost_usd_total": _num(row.cost_usd_total),
        "gpu_hours_total": _num(row.gpu_hours_total),
    }


def comparison_json(c: Comparison) -> dict[str, Any]:
    """A paired comparison as JSON-ready data."""
    return {
        "agent_a": c.agent_a,
        "agent_b": c.agent_b,
        "metric": c.metric,
        "common_tasks": len(c.tasks),
        "mean_difference": _num(c.mean_difference),
        "ci95": _pair(c.ci),
        "p_value": c.p_value,
        "test": "two-sided sign-flip permutation test of the per-task mean differences"
        + (" (exact)" if c.exact else " (Monte Carlo)"),
        "p_a_beats_b": c.p_a_beats_b,
        "wins": c.wins,
        "losses": c.losses,
        "draws": c.draws,
        "tasks": [
            {
                "task": t.task,
                "mean_a": _num(t.mean_a),
                "mean_b": _num(t.mean_b),
                "difference": _num(t.difference),
                "p_a_beats_b": t.p_a_beats_b,
            }
            for t in c.tasks
        ],
        "only_a": c.only_a,
        "only_b": c.only_b,
    }


def format_value(value: float | None, metric: Metric) -> str:
    """A number as the tables print it (1 decimal for scores, 4 significant digits for raw)."""
    if value is None:
        return "—"
    return f"{value:.4g}" if metric == "raw" else f"{value:.1f}"


def trial_json(trial: Trial, metric: Metric) -> dict[str, Any]:
    """One trial of a cell: its run, its number in this metric and its working time."""
    return {
        "trial": trial.trial_id,
        "run_id": trial.run_id,
        "evaluation_id": trial.evaluation_id,
        "status": trial.status,
        "valid": trial.valid,
        "value": _num(trial.value(metric)),
        "working_hours": _num(trial.working_hours),
        "run_hours": _num(trial.run_hours),
        "elapsed_s": trial.elapsed_s,
    }


def apart_json(board: Board) -> list[dict[str, Any]]:
    """The trials a view at a time budget leaves out, and why."""
    return [
        {"trial": a.trial_id, "evaluation_id": a.evaluation_id, "task": a.task,
         "agent": a.agent, "why": a.why}
        for a in board.apart
    ]  # fmt: skip


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
        "runs": [trial_json(t, metric) for t in cell.trials],
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
    unc, _ = view_uncertainty(board, ranked, metric, trials, tasks)
    none = RowUncertainty(None, None, None)
    return {
        "benchmark": board.benchmark,
        "at_s": board.at_s,
        "not_ranked_at_budget": apart_json(board),
        "metric": metric,
        "metric_label": METRIC_LABELS[metric],
        "trials": "mean" if trials == "mean" else "best_of_k",
        "success_threshold": SUCCESS_THRESHOLD,
        "confidence": CONFIDENCE,
        "uncertainty": UNCERTAINTY_NOTE if unc else None,
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
                **cost_json(r.row),
                "average": _num(r.average),
                "average_ci": _pair(unc.get(row_key(r.row), none).average_ci),
                "rank_stability": unc.get(row_key(r.row), none).rank_stability,
                "tied_with_next": unc.get(row_key(r.row), none).tied_with_next,
                "tasks_covered": r.covered,
                "tasks_selected": len(columns),
                "tasks_missing": [c.name for c in missing_tasks(r, columns)]
                if r.row.kind != "reference"
                else [],
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
    unc, _ = view_uncertainty(board, ranked, metric, trials, tasks)
    if not ranked:
        for a in board.apart:
            console.print(f"not ranked: {a.agent} · {a.task} · {a.trial_id}: {a.why}", markup=False)
        console.print(
            f"{board.benchmark}: no {metric} values for the tasks shown. Imported results carry "
            f"only the metrics their file gives; try --metric relative or --metric absolute."
        )
        return
    mode = "mean over trials" if trials == "mean" else "BEST of k trials (not the default)"
    if board.at_s is not None:
        mode += f", AT {format_duration(int(board.at_s))} into each run"
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
    if unc:
        table.add_column(f"{CONFIDENCE:.0%} CI of avg", justify="right", no_wrap=True)
        table.add_column("rank held", justify="right", no_wrap=True)
    costed = any(r.row.cost_usd_per_run is not None for r in ranked)
    if costed:
        table.add_column("model $/run", justify="right")
    gpu_costed = any(r.row.gpu_hours_per_run is not None for r in ranked)
    if gpu_costed:
        table.add_column("GPU-h/run", justify="right")
    worked = any(r.row.working_hours_per_run is not None for r in ranked)
    if worked:
        table.add_column("work h/run", justify="right")
    sources: list[str] = []
    incomplete: list[str] = []
    for r in ranked:
        row = r.row
        u = unc.get(row_key(row))
        if row.kind == "reference":
            rank = Text("ref", style="italic")
        else:
            rank = Text(f"{r.medal or ''}{r.rank}")
            if u is not None and u.tied_with_next:
                rank.append(" ≈", style="bold yellow")
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
                missing = ", ".join(c.short for c in missing_tasks(r, columns))
                incomplete.append(f"rank {r.rank} ({r.covered}/{len(columns)}) misses: {missing}")
                avg.append(f" ({r.covered}/{len(columns)})", style="dim")
        trials_text = str(row.n_trials) if row.kind == "agent" else "pub."
        extra = []
        if unc:
            ci = u.average_ci if u else None
            extra.append(
                Text("—", style="dim")
                if ci is None
                else Text(f"[{format_value(ci[0], metric)}, {format_value(ci[1], metric)}]")
            )
            held = u.rank_stability if u else None
            extra.append(Text("—", style="dim") if held is None else Text(f"{held:.0%}"))
        for known, figure, digits in (
            (costed, r.row.cost_usd_per_run, 4),
            (gpu_costed, r.row.gpu_hours_per_run, 3),
            (worked, r.row.working_hours_per_run, 3),
        ):
            if known:
                text = "—" if figure is None else f"{figure:.{digits}g}"
                extra.append(Text(text, style="" if figure is not None else "dim"))
        table.add_row(rank, name, trials_text, *cells, avg, *extra)
    notes = []
    if trials == "mean":
        notes.append(f"± half-width of the {CONFIDENCE:.0%} t interval over trials (n ≥ 2)")
    notes.append("— no result for that task (never counted as 0)")
    if unc:
        notes.append(
            f"{CONFIDENCE:.0%} CI of avg: interval of the cross-task average; rank held: share of "
            f"resamples in which the row keeps its rank; ≈: not significantly different from the "
            f"next row (the interval of their difference contains 0). Method: {UNCERTAINTY_NOTE}"
        )
    if costed:
        notes.append("model $/run: mean model-API cost per run through the harness's proxy")
    if gpu_costed:
        notes.append("GPU-h/run: mean GPUs x wall hours per run (runs whose GPU ids were recorded)")
    if worked:
        notes.append(
            "work h/run: mean working hours per run (wall time less the time stalled on the "
            "provider; runs through the harness's proxy)"
        )
    if board.at_s is not None:
        notes.append(
            f"scores at {format_duration(int(board.at_s))}: each trial's last scored snapshot "
            "(agent-eval --over-time) at or before it, or its final deliverable if the run had "
            "ended by then"
        )
    if incomplete:
        notes.append(
            "(k/n): average over the k of n shown tasks the row has; such rows rank after "
            "every complete row and earn no medal"
        )
        notes.extend(f"  {line}" for line in incomplete)
        notes.append(f"  to complete a row: {COMPLETE_HINT}")
    if metric == "raw":
        notes.append("raw values have no cross-task average; order follows the relative score")
    for i, src in enumerate(sources, start=1):
        notes.append(f"[{i}] imported: {src}")
    if board.apart:
        notes.append(
            f"not ranked at {format_duration(int(board.at_s or 0))}: {len(board.apart)} trial(s)"
        )
        notes.extend(f"  {a.agent} · {a.task} · {a.trial_id}: {a.why}" for a in board.apart)
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
        "summary_html": _markdown(spec.summary),
        "deliverable": spec.deliverable.description,
        "deliverable_html": _markdown(spec.deliverable.description),
        "aliases": list(spec.aliases),
        "limits": _limits(column),
        "metric": {
            "label": primary.label,
            "direction": primary.direction,
            "unit": primary.unit,
            "description": primary.description,
            "description_html": _markdown(primary.description),
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


def _page_trial(trial: Trial, pages: Mapping[str, str]) -> dict[str, Any]:
    """What the page shows of one trial, compactly (a board may hold 10,000): its id, status,
    values in :data:`METRICS` order, working and wall hours, the moment its score stands for,
    its cost and ``page``, the relative link to its run's page; unknown figures left out."""
    shown = {
        "id": trial.trial_id,
        "st": trial.status,
        "v": [_num(trial.value(m)) for m in METRICS],
        "wh": _num(trial.working_hours),
        "rh": _num(trial.run_hours),
        "el": trial.elapsed_s,
        "c": _num(trial.cost_usd),
        "page": pages.get(trial.run_id) if trial.run_id else None,
    }
    return {k: v for k, v in shown.items() if v is not None}


def _row_cells(cell: Cell, pages: Mapping[str, str]) -> dict[str, Any]:
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
        "trials": [_page_trial(t, pages) for t in cell.trials],
    }


PAGE_COMPARISONS = 12
"""The page carries paired comparisons between the first this many ranked rows (relative
score, every task); ``agent-eval compare`` compares any two."""


def _board_statistics(board: Board) -> tuple[dict[RowKey, dict[str, Any]], list[dict[str, Any]]]:
    """Per row, the uncertainty of each averaged metric over every task; and the comparisons."""
    from agent_eval.leaderboard.uncertainty import compare_rows

    per_row: dict[RowKey, dict[str, Any]] = {}
    comparisons: list[dict[str, Any]] = []
    names = [c.name for c in board.tasks]
    for metric in ("relative", "absolute"):
        ranked = rank_rows(board, metric, "mean")
        unc, resampled = view_uncertainty(board, ranked, metric, "mean")
        for r in ranked:
            u = unc.get(row_key(r.row))
            if u is not None:
                per_row.setdefault(row_key(r.row), {})[metric] = {
                    "rank": r.rank,
                    "ci": _pair(u.average_ci),
                    "held": u.rank_stability,
                    "tied": u.tied_with_next,
                }
        if metric != "relative" or resampled is None:
            continue
        top = [r.row for r in ranked if r.rank is not None and r.average is not None]
        top = top[:PAGE_COMPARISONS]
        for i, a in enumerate(top):
            for b in top[i + 1 :]:
                c = compare_rows(a, b, resampled, metric, names)
                if c is not None:
                    comparisons.append(comparison_json(c))
    return per_row, comparisons


def _markdown(text: str | None) -> str | None:
    """Task text rendered from Markdown to HTML: raw HTML in the text is escaped, never passed
    through, and links with a script-capable scheme (javascript:, vbscript:, file:, data:) stay
    text (markdown-it's link validation)."""
    if not text:
        return None
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False}).render(text)


NOT_RANKED_SHOWN = 500
"""Evaluations left out of the ranking that the page lists (the count is always whole)."""


def page_data(
    boards: Sequence[Board],
    generated_at: str,
    pages: Mapping[str, str] | None = None,
    left_out: Sequence[tuple[str, str, str | None, str]] = (),
) -> dict[str, Any]:
    """Everything the page shows, as one JSON document embedded in it; ``pages``: run id ->
    the link (relative to the page) to that run's page; ``left_out``: the evaluations the
    ranking leaves out, with why (:meth:`agent_eval.store.Store.left_out`)."""
    pages = pages or {}
    stats = {b.benchmark: _board_statistics(b) for b in boards}
    return {
        "generated_at": generated_at,
        "not_ranked": [
            {"evaluation_id": e, "task": t, "agent": a, "why": why}
            for e, t, a, why in left_out[-NOT_RANKED_SHOWN:]
        ],
        "not_ranked_total": len(left_out),
        "success_threshold": SUCCESS_THRESHOLD,
        "pass_at": list(PASS_AT),
        "levels": {str(k): v for k, v in LEVELS.items()},
        "metrics": list(METRICS),
        "metric_labels": METRIC_LABELS,
        "uncertainty": UNCERTAINTY_NOTE,
        "complete_hint": COMPLETE_HINT,
        "how_to": HOW_TO,
        "benchmarks": [
            {
                "name": b.benchmark,
                "at_s": b.at_s,
                "at": None if b.at_s is None else format_duration(int(b.at_s)),
                "apart": apart_json(b),
                "comparisons": stats[b.benchmark][1],
                "story": about_benchmark(b.benchmark),
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
                        **cost_json(row),
                        "stats": stats[b.benchmark][0].get(row_key(row), {}),
                        "cells": {t: _row_cells(c, pages) for t, c in row.cells.items()},
                    }
                    for row in b.rows
                ],
            }
            for b in boards
        ],
    }


__all__ = ["RankedRow", "format_value", "page_data", "render_board", "view_json"]
